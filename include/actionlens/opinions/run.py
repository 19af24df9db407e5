"""Second opinions around the stores: for a batch of videos, every annotated node (any
tier, any tree) is shown to each configured opinion model cold, as 32 frames of its span
at 320x320, and the answer is parsed, repaired and stored exactly like stage 3, under
`nodes.annotations.<source>` with model id and prompt hash.

A node is annotated when it has an entry under `annotations` from someone other than the
opinion sources themselves (`ours` from stage 3, `gpt` from the Action100M import, ...).
It is stale for a source when that source has no answer under the current model and
prompt version, or got no answer at all last time; a rerun asks only for stale nodes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.annotations import Outcome, converse, fold_reports
from actionlens.caption.frames import (
    FRAME_SIZE,
    FRAMES_PER_SEGMENT,
    FrameRequest,
    decode_at,
    segment_times,
)
from actionlens.caption.run import MAX_FRAMES_PER_PASS, frame_passes
from actionlens.errors import InputError
from actionlens.models import ChatModel, ChatRequest, Video, load_model, user
from actionlens.opinions import prompt as P
from actionlens.progress import Progress
from actionlens.settings import OpinionSource, Settings
from actionlens.tree import TreeNode

log = logging.getLogger(__name__)

STAGE = "opinions"


def version(model_id: str) -> str:
    return f"{model_id}@{P.prompt_hash()}"


def is_annotated(doc: dict[str, Any], opinion_sources: set[str]) -> bool:
    """Has an annotation from anyone but the opinion models."""
    return any(k not in opinion_sources for k in (doc.get("annotations") or {}))


def is_stale(doc: dict[str, Any], source: str, current: str) -> bool:
    stored = (doc.get("annotations") or {}).get(source)
    if not isinstance(stored, dict):
        return True
    return stored.get("version") != current or stored.get("status") == "error"


def annotated_video_ids(db, opinion_sources: set[str]) -> list[str]:
    """Every video with at least one annotated node ("all annotated" in manual runs)."""
    from actionlens.store.mongo import NODES

    ids = set()
    for doc in db[NODES].find(
        {"annotations": {"$exists": True, "$ne": {}}}, {"video_id": 1, "annotations": 1}
    ):
        if is_annotated(doc, opinion_sources):
            ids.add(doc["video_id"])
    return sorted(ids)


def _node(doc: dict[str, Any]) -> TreeNode:
    return TreeNode(
        doc["_id"],
        doc.get("parent_id"),
        int(doc.get("level") or 0),
        float(doc["start"]),
        float(doc["end"]),
        doc,
    )


@dataclass
class VideoOpinions:
    video_id: str
    status: str  # "opined" | "up_to_date" | "failed"
    annotated_nodes: int = 0
    asked: int = 0
    ok: int = 0
    invalid: int = 0
    errors: int = 0
    error: str | None = None
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )
    seconds: float = 0.0


class OpinionRunner:
    """Asks one loaded opinion model about the stale annotated nodes of a batch of videos."""

    def __init__(self, settings: Settings, model: ChatModel, source: str, *, db=None, bucket=None):
        from actionlens.store.mongo import connect
        from actionlens.store.storage import open_bucket

        self.settings = settings
        self.model = model
        self.source = source
        self.opinion_sources = {s.source for s in settings.opinions.sources} | {source}
        self.db = db if db is not None else connect(settings)
        self.bucket = bucket or open_bucket(
            settings.bucket_uri(), endpoint=settings.gcs_endpoint, project=settings.gcs_project
        )
        self.max_new_tokens = next(
            (s.max_new_tokens for s in settings.opinions.sources if s.source == source), 1024
        )

    @property
    def version(self) -> str:
        return version(self.model.model_id)

    def run(self, video_ids: list[str], *, force: bool = False) -> dict[str, Any]:
        started = time.monotonic()
        progress = Progress(f"opinions[{self.source}]", len(video_ids))
        results = []
        for vid in video_ids:
            t0 = time.monotonic()
            try:
                result = self.one(vid, force=force)
            except Exception as exc:  # one video never stops the batch
                log.warning("[%s] no %s opinions: %s", vid, self.source, exc)
                result = VideoOpinions(vid, "failed", error=f"{type(exc).__name__}: {exc}")
            result.seconds = round(time.monotonic() - t0, 3)
            self._mark(result)
            results.append(result)
            progress.advance(
                result.status,
                f"{vid} {result.ok}/{result.asked} nodes {result.error or ''}".strip(),
            )
        return {
            "source": self.source,
            "model_id": self.model.model_id,
            "backend": self.model.backend,
            "baseline": self.model.baseline,
            "prompt_hash": P.prompt_hash(),
            "version": self.version,
            "nodes": sum(r.asked for r in results),
            "seconds": round(time.monotonic() - started, 3),
            "videos": [asdict(r) for r in results],
            "opined": [r.video_id for r in results if r.status != "failed"],
            "failed": [r.video_id for r in results if r.status == "failed"],
        }

    def one(self, video_id: str, *, force: bool = False) -> VideoOpinions:
        from actionlens.records import validate_video_id
        from actionlens.store.mongo import NODES, VIDEOS

        validate_video_id(video_id)
        docs = [
            d
            for d in self.db[NODES].find({"video_id": video_id})
            if is_annotated(d, self.opinion_sources)
        ]
        if not docs:
            raise InputError(
                f"[{video_id}] has no annotated node: run `aggregate` or import references first"
            )
        current = self.version
        stale = [_node(d) for d in docs if force or is_stale(d, self.source, current)]
        result = VideoOpinions(
            video_id, "up_to_date" if not stale else "opined", annotated_nodes=len(docs)
        )
        if not stale:
            return result
        video = self.db[VIDEOS].find_one({"_id": video_id}, {"transcript": 1}) or {}
        transcript = (video.get("transcript") or {}).get("segments") or []
        with tempfile.TemporaryDirectory(prefix="actionlens-opinions-") as tmp:
            clip = (
                self._clip(video_id, Path(tmp))
                if getattr(self.model, "needs_frames", True)
                else None
            )
            for chunk in frame_passes(stale, MAX_FRAMES_PER_PASS):
                requests = [
                    ChatRequest(
                        [user(video, P.render_prompt(n.start, n.end))],
                        self.max_new_tokens,
                        {"span": (n.start, n.end), "transcript": transcript, "node_id": n.id},
                    )
                    for n, video in zip(chunk, self._frames(clip, chunk), strict=True)
                ]
                self._write(chunk, converse(self.model, requests), result)
        if result.ok == 0:
            result.status = "failed"
        if result.errors:
            result.error = f"{result.errors} of {result.asked} nodes got no answer from the model"
        elif result.invalid:
            result.error = f"{result.invalid} of {result.asked} nodes stayed invalid after repair (raw text kept)"
        return result

    def _clip(self, video_id: str, folder: Path) -> Path:
        from actionlens.acquire.run import clip_key

        try:
            return self.bucket.download(clip_key(video_id), folder / "clip.mp4")
        except FileNotFoundError as exc:
            raise InputError(
                f"[{video_id}] has no stored clip for the opinion models to watch ({exc})"
            ) from None

    def _frames(self, clip: Path | None, nodes: list[TreeNode]) -> list[Video]:
        """32 frames of each node's span at 320x320, the clip decoded once per pass."""
        times = [segment_times(n.start, n.end) for n in nodes]
        if clip is None:
            blank = np.zeros((FRAMES_PER_SEGMENT, 1, 1, 3), np.uint8)
            return [Video(blank, tuple(t)) for t in times]
        size = (FRAME_SIZE, FRAME_SIZE)
        frames = decode_at(clip, [FrameRequest(t, size) for ts in times for t in ts])
        return [
            Video(
                np.stack(frames[i * FRAMES_PER_SEGMENT : (i + 1) * FRAMES_PER_SEGMENT]), tuple(ts)
            )
            for i, ts in enumerate(times)
        ]

    def document(self, outcome: Outcome, now: datetime) -> dict[str, Any]:
        return outcome.document(
            self.model,
            prompt_hash=P.prompt_hash(),
            version=self.version,
            now=now,
            frames=FRAMES_PER_SEGMENT,
            size=FRAME_SIZE,
        )

    def _write(self, nodes: list[TreeNode], outcomes: list[Outcome], result: VideoOpinions) -> None:
        from pymongo import UpdateOne

        from actionlens.store.mongo import NODES

        now = datetime.now(UTC)
        ops = [
            UpdateOne(
                {"_id": n.id}, {"$set": {f"annotations.{self.source}": self.document(o, now)}}
            )
            for n, o in zip(nodes, outcomes, strict=True)
        ]
        if ops:
            self.db[NODES].bulk_write(ops, ordered=False)
        for o in outcomes:
            result.asked += 1
            result.ok += o.status == "ok"
            result.invalid += o.status == "invalid"
            result.errors += o.status == "error"
            result.usage["prompt_tokens"] += o.usage.prompt_tokens
            result.usage["completion_tokens"] += o.usage.completion_tokens

    def _mark(self, r: VideoOpinions) -> None:
        from actionlens.store.mongo import VIDEOS

        self.db[VIDEOS].update_one(
            {"_id": r.video_id},
            {
                "$set": {
                    f"stages.{STAGE}.{self.source}": {
                        "state": "failed" if r.status == "failed" else "done",
                        "model_id": self.model.model_id,
                        "baseline": self.model.baseline,
                        "version": self.version,
                        "annotated_nodes": r.annotated_nodes,
                        "asked": r.asked,
                        "ok": r.ok,
                        "invalid": r.invalid,
                        "errors": r.errors,
                        "error": r.error,
                        "usage": r.usage,
                        "at": datetime.now(UTC),
                    }
                }
            },
        )


def load_opinion_model(spec: OpinionSource, settings: Settings) -> ChatModel:
    """The backend of one opinion source (the weight-free baselines registered first)."""
    # Registers the opinion-frames / opinion-transcript baselines and transformers-auto.
    import actionlens.opinions.auto  # noqa: F401
    import actionlens.opinions.baseline  # noqa: F401

    return load_model(spec, settings.models)


def opinions_batch(
    settings: Settings,
    video_ids: list[str],
    *,
    sources: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Each configured opinion source in turn (one model loaded at a time) over the batch."""
    specs = [s for s in settings.opinions.sources if sources is None or s.source in sources]
    if sources and len(specs) != len(set(sources)):
        known = [s.source for s in settings.opinions.sources]
        raise InputError(f"unknown opinion source in {sources} (configured: {known})")
    reports = []
    for spec in specs:
        model = load_opinion_model(spec, settings)
        try:
            reports.append(OpinionRunner(settings, model, spec.source).run(video_ids, force=force))
        finally:
            model.close()
    failed = sorted({v for r in reports for v in r["failed"]})
    opined = sorted({v for r in reports for v in r["opined"]} - set(failed))
    return {"sources": reports, "opined": opined, "failed": failed}


def merge_opinion_reports(reports: list[dict | None]) -> dict[str, Any]:
    """Fold opinions batch results (XComs; None for a batch that died) into ids and counts."""
    return fold_reports(reports, "opined", parts=lambda report: report.get("sources") or [])
