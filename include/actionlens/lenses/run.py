"""Lenses around the stores: per video and lens one normalized vector in MongoDB `lenses`
(_id "<video_id>:<lens>"), with model id, input hash and, on the category lens, the
zero-shot category. A lens document is rebuilt only when its model, lens version or
input (transcript text, stored clip) changed.

Document: {video_id, lens, backend, model_id, baseline, version, input_hash,
status: ok|empty|failed, error, dim, vector: [float], category: {label, score, scores,
lens, model_id, method, baseline} | absent, updated_at}.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.errors import InputError
from actionlens.lenses.backends import LensInput, load_lens
from actionlens.lenses.vectors import zero_shot
from actionlens.media.frames import FRAME_SIZE, FRAMES_PER_SEGMENT, video_frames
from actionlens.models.base import Video
from actionlens.progress import Progress
from actionlens.records import transcript_text
from actionlens.settings import Settings
from actionlens.store.mongo import LENSES

log = logging.getLogger(__name__)

LENS_VERSION = (
    f"lens-v1-f{FRAMES_PER_SEGMENT}-s{FRAME_SIZE}"  # bump when inputs are sampled differently
)


def lens_id(video_id: str, lens: str) -> str:
    return f"{video_id}:{lens}"


def input_hash(backend, item: LensInput, clip_ref: str, labels: list[str] | None = None) -> str:
    """What the vector (and category) was made from: a change re-embeds the video."""
    parts = [
        LENS_VERSION,
        item.transcript if not backend.needs_frames else clip_ref,
        *(labels or []),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class LensRunner:
    """Embeds a batch of videos with every configured lens and stores the vectors."""

    def __init__(self, settings: Settings, *, db=None, bucket=None):
        from actionlens.store.mongo import connect
        from actionlens.store.storage import open_bucket

        self.settings = settings
        self.db = db if db is not None else connect(settings)
        self.bucket = bucket or open_bucket(settings)
        self.db[LENSES].create_index([("lens", 1), ("status", 1)])

    def run(
        self, video_ids: list[str], *, lenses: list[str] | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Every configured lens (or those named) over the batch, one model loaded at a time."""
        from actionlens.records import validate_video_id
        from actionlens.store.mongo import VIDEOS

        started = time.monotonic()
        specs = [s for s in self.settings.opinions.lenses if lenses is None or s.lens in lenses]
        ids = [validate_video_id(v) for v in dict.fromkeys(video_ids)]
        videos = {
            d["_id"]: d
            for d in self.db[VIDEOS].find({"_id": {"$in": ids}}, {"transcript": 1, "clip": 1})
        }
        frames: dict[str, Video | str] = {}  # decoded once per video, shared by the lenses
        report: dict[str, Any] = {"lenses": {}, "failed": {}, "seconds": 0.0}
        with tempfile.TemporaryDirectory(prefix="actionlens-lenses-") as tmp:
            for spec in specs:
                backend = load_lens(spec, self.settings)
                report["lenses"][spec.lens] = self._lens(
                    spec, backend, ids, videos, frames, Path(tmp), report, force
                )
                del backend  # free its weights before the next lens loads
        report["seconds"] = round(time.monotonic() - started, 3)
        report["embedded"] = sorted(set(ids) - set(report["failed"]))
        return report

    def _lens(
        self,
        spec,
        backend,
        ids: list[str],
        videos: dict[str, dict],
        frames: dict[str, Video | str],
        tmp: Path,
        report: dict[str, Any],
        force: bool,
    ) -> dict[str, Any]:
        """One lens over the batch: skip up-to-date videos, embed the rest in one call."""
        counts = {"embedded": 0, "up_to_date": 0, "empty": 0, "failed": 0}
        progress = Progress(f"lenses[{spec.lens}]", len(ids))
        labels = (
            self.settings.opinions.categories
            if spec.lens == self.settings.opinions.category_lens
            else None
        )
        todo: list[tuple[LensInput, str]] = []
        for vid in ids:
            if vid not in videos:
                self._failed(spec, backend, vid, f"[{vid}] is not in the ledger", counts, report)
                continue
            clip = videos[vid].get("clip") or {}
            item = LensInput(vid, transcript_text(videos[vid]), None)
            digest = input_hash(
                backend, item, str(clip.get("sha256") or clip.get("uri") or ""), labels
            )
            stored = self.db[LENSES].find_one(
                {"_id": lens_id(vid, spec.lens)}, {"model_id": 1, "input_hash": 1, "status": 1}
            )
            if (
                not force
                and stored
                and stored.get("model_id") == spec.model_id
                and stored.get("input_hash") == digest
                and stored.get("status") in ("ok", "empty")
            ):
                counts["up_to_date"] += 1
                progress.advance("up_to_date", vid)
                continue
            if backend.needs_frames:
                if vid not in frames:
                    frames[vid] = self._frames(vid, tmp)
                if isinstance(frames[vid], str):
                    self._failed(spec, backend, vid, frames[vid], counts, report)
                    continue
                item.frames = frames[vid]
            if not backend.has_input(item):
                self._write(spec, backend, item, digest, None, status="empty")
                counts["empty"] += 1
                progress.advance("empty", vid)
                continue
            todo.append((item, digest))
        vectors = self._embed(backend, [i for i, _ in todo])
        categories = self._categories(spec, backend, vectors) if todo else None
        for n, (item, digest) in enumerate(todo):
            self._write(
                spec,
                backend,
                item,
                digest,
                vectors[n],
                category=categories[n] if categories else None,
            )
            counts["embedded"] += 1
            progress.advance("embedded", item.video_id)
        return {"model_id": spec.model_id, "baseline": backend.baseline, **counts}

    def _embed(self, backend, items: list[LensInput]) -> np.ndarray:
        if not items:
            return np.zeros((0, 0), np.float32)
        vectors = backend.embed(items)
        if vectors.shape[0] != len(items) or not np.all(np.isfinite(vectors)):
            raise InputError(
                f"lens backend {backend.backend} returned {vectors.shape} for {len(items)} videos"
            )
        return vectors

    def _categories(self, spec, backend, vectors: np.ndarray) -> list[dict] | None:
        """Zero-shot categories when this is the category lens and it has a text space."""
        if spec.lens != self.settings.opinions.category_lens or backend.text_space is None:
            return None
        labels = self.settings.opinions.categories
        found = zero_shot(vectors, labels, backend.embed_texts(labels))
        real = backend.text_space == "text-video"
        for c in found:
            c.update(
                lens=spec.lens,
                model_id=spec.model_id,
                baseline=not real,
                method="text-video zero-shot" if real else "transcript text-space baseline",
            )
        return found

    def _frames(self, video_id: str, folder: Path) -> Video | str:
        """The clip's frames, or a sentence saying why there are none."""
        from actionlens.store.storage import clip_key

        try:
            clip = self.bucket.download(clip_key(video_id), folder / f"{video_id}.mp4")
            return video_frames(clip)
        except FileNotFoundError as exc:
            return f"[{video_id}] has no stored clip ({exc})"
        except Exception as exc:  # a broken clip fails this video only
            return f"[{video_id}] frames could not be decoded ({type(exc).__name__}: {exc})"

    def _failed(self, spec, backend, vid: str, error: str, counts: dict, report: dict) -> None:
        log.warning("lens %s: %s", spec.lens, error)
        self._write(
            spec, backend, LensInput(vid, "", None), None, None, status="failed", error=error
        )
        counts["failed"] += 1
        report["failed"].setdefault(vid, []).append(f"{spec.lens}: {error}")

    def _write(
        self,
        spec,
        backend,
        item: LensInput,
        digest: str | None,
        vector: np.ndarray | None,
        *,
        status: str = "ok",
        error: str | None = None,
        category: dict | None = None,
    ) -> None:
        doc: dict[str, Any] = {
            "video_id": item.video_id,
            "lens": spec.lens,
            "backend": spec.backend,
            "model_id": spec.model_id,
            "baseline": backend.baseline,
            "version": LENS_VERSION,
            "input_hash": digest,
            "status": status,
            "error": error,
            "dim": None if vector is None else int(vector.shape[0]),
            "vector": None if vector is None else [float(x) for x in vector],
            "updated_at": datetime.now(UTC),
        }
        update: dict[str, Any] = {"$set": doc}
        if category is not None:
            doc["category"] = category
        else:
            update["$unset"] = {"category": ""}
        self.db[LENSES].update_one({"_id": lens_id(item.video_id, spec.lens)}, update, upsert=True)


def lenses_batch(
    settings: Settings,
    video_ids: list[str],
    *,
    lenses: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    return LensRunner(settings).run(video_ids, lenses=lenses, force=force)
