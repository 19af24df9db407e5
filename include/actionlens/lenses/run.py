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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.errors import InputError
from actionlens.lenses.backends import LensInput, load_lens
from actionlens.lenses.vectors import zero_shot
from actionlens.lifetime import scratch
from actionlens.media.frames import FRAME_SIZE, FRAMES_PER_SEGMENT, video_frames
from actionlens.models.base import Video
from actionlens.records import transcript_text
from actionlens.runtime import Freshness, Outcome, Result, VideoStage, merge_reports
from actionlens.settings import Settings
from actionlens.store.mongo import LENSES, VIDEOS

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


class LensStage(VideoStage):
    """One lens over a batch: up-to-date videos skipped, the rest embedded in one call."""

    name = "lenses"
    ready_key = "embedded"
    batched = True
    # A lens document is current when made by this model from the same inputs.
    freshness = Freshness(version_field="model_id", only=frozenset({"ok", "empty"}))

    def __init__(
        self,
        settings: Settings,
        spec,
        *,
        db,
        bucket,
        videos: dict[str, dict],
        frames: dict[str, Video | str],
        folder: Path,
        force: bool = False,
    ):
        from actionlens.lenses.backends import LENS_BACKENDS

        self.settings, self.spec, self.db, self.bucket = settings, spec, db, bucket
        self.videos, self.frames, self.folder, self.force = videos, frames, folder, force
        backend = LENS_BACKENDS[spec.backend]
        self.needs_gpu, self.needs_frames = backend.needs_gpu, backend.needs_frames
        # A lens that reads frames gets the clip only after the runner checked it.
        self.needs_clip, self.clip_ledger = backend.needs_frames, db[VIDEOS]
        self.version = spec.model_id
        self.labels = (
            settings.opinions.categories if spec.lens == settings.opinions.category_lens else None
        )
        self.prompt = settings.opinions.category_prompt  # the notebook's "A video about "
        self.backend = None
        self.todo: dict[str, tuple[LensInput, str]] = {}

    @property
    def label(self) -> str:
        return f"lenses[{self.spec.lens}]"

    @property
    def ledger_key(self) -> None:
        return None  # the lens documents are this stage's record

    def setup(self) -> None:
        self.backend = load_lens(self.spec, self.settings)
        self.todo = {}

    def teardown(self) -> None:
        self.backend = None  # free its weights before the next lens loads

    def describe(self) -> dict[str, Any]:
        return {"lens": self.spec.lens, "model_id": self.spec.model_id, "baseline": self.baseline}

    @property
    def baseline(self) -> bool:
        from actionlens.lenses.backends import LENS_BACKENDS

        return LENS_BACKENDS[self.spec.backend].baseline

    def prepare(self, video_id: str) -> Result | None:
        if video_id not in self.videos:
            return self._failed(video_id, f"[{video_id}] is not in the ledger")
        clip = self.videos[video_id].get("clip") or {}
        item = LensInput(video_id, transcript_text(self.videos[video_id]), None)
        digest = input_hash(
            self.backend,
            item,
            str(clip.get("sha256") or clip.get("uri") or ""),
            [self.prompt, *self.labels] if self.labels else None,
        )
        stored = self.db[LENSES].find_one(
            {"_id": lens_id(video_id, self.spec.lens)},
            {"model_id": 1, "input_hash": 1, "status": 1},
        )
        if not self.force and not self.is_stale(stored, digest):
            return Result(Outcome.UP_TO_DATE)
        if self.needs_frames:
            if video_id not in self.frames:
                self.frames[video_id] = self._frames(video_id)
            if isinstance(self.frames[video_id], str):
                return self._failed(video_id, self.frames[video_id])
            item.frames = self.frames[video_id]
        if not self.backend.has_input(item):
            self._write(item, digest, None, status="empty")
            return Result(Outcome.SKIPPED, facts={"status": "empty"})
        self.todo[video_id] = (item, digest)
        return None

    def process_batch(self, video_ids: list[str]) -> dict[str, Result]:
        items = [self.todo[vid][0] for vid in video_ids]
        vectors = self._embed(items)
        results: dict[str, Result] = {}
        good = []
        for n, vid in enumerate(video_ids):
            if np.all(np.isfinite(vectors[n])):
                good.append(n)
                continue  # a NaN or infinite vector fails its own video, not the batch
            results[vid] = self._failed(
                vid,
                f"[{vid}] lens {self.spec.lens} ({self.spec.model_id}) gave a vector with NaN "
                "or infinite values: not stored; check the clip and rerun with --force",
            )
        vectors = vectors[good]
        categories = self._categories(vectors) if good else None
        for m, n in enumerate(good):
            vid = video_ids[n]
            item, digest = self.todo[vid]
            category = categories[m] if categories else None
            self._write(item, digest, vectors[m], category=category)
            results[vid] = Result(Outcome.DONE, facts={"status": "ok"})
        return results

    def _embed(self, items: list[LensInput]) -> np.ndarray:
        vectors = self.backend.embed(items)
        if vectors.ndim != 2 or vectors.shape[0] != len(items):
            raise InputError(
                f"lens backend {self.backend.backend} returned {vectors.shape} for {len(items)} videos"
            )
        return vectors

    def _categories(self, vectors: np.ndarray) -> list[dict] | None:
        """Zero-shot categories when this is the category lens and it has a text space."""
        if self.labels is None or self.backend.text_space is None:
            return None
        found = zero_shot(
            vectors, self.labels, self.backend.embed_texts([self.prompt + c for c in self.labels])
        )
        real = self.backend.text_space == "text-video"
        for c in found:
            c.update(
                lens=self.spec.lens,
                model_id=self.spec.model_id,
                baseline=not real,
                method="text-video zero-shot" if real else "transcript text-space baseline",
            )
        return found

    def _frames(self, video_id: str) -> Video | str:
        """The clip's frames, or a sentence saying why there are none."""
        from actionlens.store.storage import clip_key

        try:
            clip = self.bucket.download(clip_key(video_id), self.folder / f"{video_id}.mp4")
            return video_frames(clip)
        except FileNotFoundError as exc:
            return f"[{video_id}] has no stored clip ({exc})"
        except Exception as exc:  # a broken clip fails this video only
            return f"[{video_id}] frames could not be decoded ({type(exc).__name__}: {exc})"

    def _failed(self, video_id: str, error: str) -> Result:
        log.warning("lens %s: %s", self.spec.lens, error)
        self._write(LensInput(video_id, "", None), None, None, status="failed", error=error)
        return Result(Outcome.FAILED, error, {"status": "failed"})

    def _write(
        self,
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
            "lens": self.spec.lens,
            "backend": self.spec.backend,
            "model_id": self.spec.model_id,
            "baseline": self.backend.baseline,
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
        self.db[LENSES].update_one(
            {"_id": lens_id(item.video_id, self.spec.lens)}, update, upsert=True
        )


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
        """Every configured lens (or those named) over the batch, one model loaded at a time;
        the clip's frames are decoded once per video and shared by the lenses."""
        from actionlens.store.mongo import VIDEOS

        started = time.monotonic()
        specs = [s for s in self.settings.opinions.lenses if lenses is None or s.lens in lenses]
        videos = {
            d["_id"]: d
            for d in self.db[VIDEOS].find(
                {"_id": {"$in": list(video_ids)}},
                {"transcript": 1, "clip": 1},
            )
        }
        frames: dict[str, Video | str] = {}
        reports = {}
        with scratch("lenses") as tmp:
            for spec in specs:
                stage = LensStage(
                    self.settings,
                    spec,
                    db=self.db,
                    bucket=self.bucket,
                    videos=videos,
                    frames=frames,
                    folder=Path(tmp),
                    force=force,
                )
                reports[spec.lens] = stage.run_batch(video_ids).as_dict()
        batch = {"lenses": reports}
        merged = merge_reports([{"parts": list(reports.values())}], "embedded", parts="parts")
        return {**batch, **merged, "seconds": round(time.monotonic() - started, 3)}


def lenses_batch(
    settings: Settings,
    video_ids: list[str],
    *,
    lenses: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    return LensRunner(settings).run(video_ids, lenses=lenses, force=force)
