"""Frame embedders behind one protocol, registered by name and chosen by settings.

Adding a backend is adding a class and its line in `EMBEDDERS` (actionlens.backends);
`make_embedder` looks it up. Each backend names the frame size it wants decoded and a
`version` string that is stored with every node it produced (a baseline says so in its
version).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from actionlens.backends import EMBEDDERS  # the table (declared capabilities)
from actionlens.devices import torch_device
from actionlens.errors import ConfigurationError
from actionlens.segment.decode import FrameSize

if TYPE_CHECKING:
    from actionlens.settings import SegmentSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns a clip's sampled frames into one vector per frame."""

    name: str  # the registry name, e.g. "vjepa2"
    needs_gpu: bool
    needs_frames: bool
    version: str  # stored with the nodes: model, weights and parameters that shape output
    frame_size: FrameSize  # how the decoder must resize frames for this embedder

    def embed(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """(n, d) float32, row k for the k-th frame; consumes `frames` once."""


def make_embedder(cfg: SegmentSettings) -> Embedder:
    """The backend `cfg.backend`, built (weights loaded) once per batch of videos."""
    return EMBEDDERS.create(cfg.backend, cfg)


class PixelEmbedder:
    """CPU baseline without weights: a colour thumbnail and colour histograms per frame.

    Deterministic and cheap; it finds cuts and colour changes, not actions.
    """

    name = "pixels"
    needs_gpu = False
    needs_frames = True

    thumb = 8  # thumbnail side (pixels)
    bins = 8  # histogram bins per channel

    def __init__(self, cfg: SegmentSettings | None = None, *, size: int = 32):
        self.frame_size = FrameSize(size, size)
        self.version = f"baseline-pixels-v1:thumb{self.thumb}-hist{self.bins}-{size}px"

    def embed_one(self, frame: np.ndarray) -> np.ndarray:
        h, w, _ = frame.shape
        f = frame.astype(np.float32) / 255.0
        t = self.thumb
        # Block means (crop to a multiple of the thumbnail side first).
        thumb = f[: h - h % t, : w - w % t].reshape(t, h // t, t, w // t, 3).mean(axis=(1, 3))
        q = np.minimum((frame.reshape(-1, 3).astype(np.int32) * self.bins) // 256, self.bins - 1)
        hist = np.stack([np.bincount(q[:, c], minlength=self.bins) for c in range(3)]).astype(
            np.float32
        )
        hist /= q.shape[0]
        return np.concatenate([thumb.ravel(), hist.ravel()])

    def embed(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        rows = [self.embed_one(f) for f in frames]
        if not rows:
            return np.zeros((0, self.thumb * self.thumb * 3 + 3 * self.bins), np.float32)
        return np.stack(rows).astype(np.float32)


def window_starts(n: int, window: int, stride: int) -> list[int]:
    """Starts of the windows over n frames: every `stride`, plus a tail window ending at
    the last frame when the regular ones stop short. n ≤ window: one window at 0."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


def checkpoint_name(path: str) -> str:
    """A short, stable name of a checkpoint directory for version strings: the repo name
    of a Hugging Face cache snapshot (…/models--org--name/snapshots/<sha>) or the folder."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for i, part in enumerate(parts):
        if part.startswith("models--"):
            sha = parts[i + 2][:8] if len(parts) > i + 2 and parts[i + 1] == "snapshots" else ""
            return part.split("--")[-1] + (f"@{sha}" if sha else "")
    return parts[-1] if parts else "unknown"


class VJEPA2Embedder:
    """V-JEPA 2 vision encoder (transformers `get_vision_features`, no predictor).

    Windows of `window` sampled frames every `stride` frames are encoded in batches;
    tokens are averaged over space to one vector per tubelet, given to both frames of
    the tubelet, and each frame's vectors are averaged over all windows covering it.
    """

    name = "vjepa2"
    needs_gpu = True
    needs_frames = True

    MEAN = (0.485, 0.456, 0.406)  # ImageNet, as the V-JEPA 2 video processor
    STD = (0.229, 0.224, 0.225)

    def __init__(self, cfg: SegmentSettings, *, model=None):
        import torch

        self.window, self.stride, self.batch_size = cfg.window, cfg.stride, cfg.batch_size
        if self.stride > self.window:
            raise ConfigurationError(
                f"segment.stride={self.stride} exceeds segment.window={self.window}: frames would be skipped"
            )
        self.device, self.dtype = torch_device(cfg.device, "segment.device")
        if model is None:
            model = self._load(cfg.weights)
            source = cfg.weights
        else:
            source = "in-memory"
        self.model = model.to(self.device, dtype=self.dtype).eval()
        config = self.model.config
        self.tubelet = int(config.tubelet_size)
        if self.window % self.tubelet:
            raise ConfigurationError(
                f"segment.window={self.window} must be a multiple of the tubelet size {self.tubelet}"
            )
        crop = int(config.crop_size)
        # The V-JEPA 2 processor resizes the short side to crop·256/224, then centre-crops.
        self.frame_size = FrameSize(int(crop * 256 / 224), crop)
        checkpoint = str(getattr(config, "_name_or_path", "") or source or "unknown")
        self.version = (
            f"vjepa2:{checkpoint_name(checkpoint)}-h{config.hidden_size}-{crop}px"
            f":w{self.window}s{self.stride}"
        )
        self.mean = torch.tensor(self.MEAN, device=self.device).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(self.STD, device=self.device).view(1, 1, 3, 1, 1)

    @staticmethod
    def _load(weights: str | None):
        from pathlib import Path

        from transformers import VJEPA2Model

        if not weights or not Path(weights).is_dir():
            raise ConfigurationError(
                f"segment.weights={weights!r} is not a local directory with a V-JEPA 2 checkpoint "
                "(e.g. a snapshot of facebook/vjepa2-vitg-fpc64-384); weights are never downloaded at run time"
            )
        return VJEPA2Model.from_pretrained(weights, local_files_only=True)

    def encode(self, windows: np.ndarray) -> np.ndarray:
        """(b, t, h, w, 3) uint8 windows → (b, t, d) float32 per-frame vectors."""
        import torch

        b, t = windows.shape[:2]
        pad = (-t) % self.tubelet  # a short clip's odd frame count: repeat the last frame
        if pad:
            windows = np.concatenate([windows, np.repeat(windows[:, -1:], pad, axis=1)], axis=1)
        with torch.inference_mode():
            x = torch.from_numpy(windows).to(self.device)
            x = x.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (b, t, 3, h, w)
            x = ((x - self.mean) / self.std).to(self.dtype)
            tokens = self.model.get_vision_features(x)  # (b, t/tubelet · patches, d)
            groups = (t + pad) // self.tubelet
            per_tubelet = tokens.float().reshape(b, groups, -1, tokens.shape[-1]).mean(dim=2)
            per_frame = per_tubelet.repeat_interleave(self.tubelet, dim=1)[:, :t]
        return per_frame.cpu().numpy()

    def embed(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        from collections import deque

        w, s = self.window, self.stride
        recent: deque[np.ndarray] = deque(
            maxlen=w
        )  # the last w frames: every window is here when it completes
        pending: list[tuple[int, np.ndarray]] = []
        sums: np.ndarray | None = None
        counts = np.zeros(0)
        n = 0

        def flush() -> None:
            nonlocal sums, counts
            if not pending:
                return
            out = self.encode(np.stack([win for _, win in pending]))
            end = max(start + win.shape[0] for start, win in pending)
            if sums is None:
                sums = np.zeros((0, out.shape[-1]), np.float64)
            if end > len(sums):
                grow = max(end, 2 * len(sums))
                sums = np.concatenate([sums, np.zeros((grow - len(sums), sums.shape[1]))])
                counts = np.concatenate([counts, np.zeros(grow - len(counts))])
            for (start, win), vec in zip(pending, out, strict=True):
                sums[start : start + win.shape[0]] += vec
                counts[start : start + win.shape[0]] += 1
            pending.clear()

        next_start = 0
        for frame in frames:
            recent.append(frame)
            n += 1
            if n == next_start + w:
                pending.append((next_start, np.stack(recent)))
                next_start += s
                if len(pending) == self.batch_size:
                    flush()
        if n == 0:
            raise ValueError("no frames to embed")
        last_regular_end = next_start - s + w if next_start > 0 else 0
        if last_regular_end < n:
            # Short clip (one window of all frames) or frames past the last regular window.
            tail = min(n, w)
            if pending and tail != w:
                flush()  # a batch holds windows of one length
            pending.append((n - tail, np.stack(list(recent)[-tail:])))
        flush()
        assert sums is not None
        counts = counts[:n]
        if (counts == 0).any():
            raise AssertionError(
                f"frames {np.flatnonzero(counts == 0)[:5]}… were not covered by a window"
            )
        return (sums[:n] / counts[:, None]).astype(np.float32)
