"""Segment a batch of stored clips: fetch, decode, embed, Ward tree, upsert, record.

`segment_batch` is the heavy step (a GPU pod or a local subprocess): it loads the
embedder once and goes through the batch; one video's failure is recorded on its ledger
document and never stops the others. `plan_batches` runs in the scheduler's worker.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from actionlens.errors import InputError, video_failure
from actionlens.progress import Progress
from actionlens.records import validate_video_id
from actionlens.segment import store
from actionlens.segment.decode import NoVideoStream, SampledFrames
from actionlens.segment.embed import Embedder, make_embedder
from actionlens.segment.tree import Node, build_tree
from actionlens.settings import Settings
from actionlens.store.mongo import NODES, VIDEOS, connect
from actionlens.store.storage import Bucket, open_bucket

log = logging.getLogger(__name__)

TREE_VERSION = "ward-chain-v1"


def segmenter_version(embedder: Embedder, sample_every: int, min_leaf_seconds: float) -> str:
    """Everything that shapes a tree, in one string stored on every node."""
    return f"{embedder.version}|every{sample_every}|{TREE_VERSION}|leaf{min_leaf_seconds:g}s"


class SegmentOutcome(BaseModel):
    video_id: str
    state: Literal["done", "failed", "skipped"]
    error: str | None = None
    nodes: int = 0
    leaves: int = 0
    duration: float = 0.0
    frames: int = 0
    corrupt_frames: int = 0
    seconds: float = 0.0


class SegmentReport(BaseModel):
    """What one segment batch did; also the XCom the task returns."""

    segmenter: str
    version: str
    outcomes: list[SegmentOutcome] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def ids(self, state: str) -> list[str]:
        return [o.video_id for o in self.outcomes if o.state == state]


def bucket_key(uri: str, bucket: Bucket) -> str:
    """The key of `uri` inside `bucket` (clip URIs are stored whole on the ledger)."""
    root = bucket.uri.rstrip("/") + "/"
    if not uri.startswith(root):
        raise InputError(f"clip {uri!r} is not in the configured bucket {bucket.uri!r}")
    return uri[len(root) :]


def segment_frames(
    frames: SampledFrames,
    embedder: Embedder,
    *,
    video_id: str,
    segmenter: str,
    min_leaf_seconds: float,
) -> list[Node]:
    """Embed the decoded frames (one pass) and build the released tree."""
    vectors = embedder.embed(frames)
    return build_tree(
        vectors,
        frames.times,
        frames.duration,
        video_id=video_id,
        segmenter=segmenter,
        min_leaf_seconds=min_leaf_seconds,
    )


class Segmenter:
    """Holds the embedder and the stores for a batch of videos."""

    def __init__(
        self,
        settings: Settings,
        *,
        db=None,
        bucket: Bucket | None = None,
        embedder: Embedder | None = None,
    ):
        self.settings = settings
        self.cfg = settings.segment
        self.db = db if db is not None else connect(settings)
        self.videos, self.nodes = self.db[VIDEOS], self.db[NODES]
        store.ensure_node_indexes(self.nodes)
        self.bucket = bucket or open_bucket(
            settings.bucket_uri(), endpoint=settings.gcs_endpoint, project=settings.gcs_project
        )
        self.embedder = embedder or make_embedder(self.cfg)
        self.version = segmenter_version(
            self.embedder, self.cfg.sample_every, self.cfg.min_leaf_seconds
        )

    def run(self, video_ids: Iterable[str], *, force: bool = False) -> SegmentReport:
        ids = list(video_ids)
        report = SegmentReport(
            segmenter=self.embedder.name, version=self.version, started_at=datetime.now(UTC)
        )
        progress = Progress("segment", len(ids))
        for vid in ids:
            outcome = self.one(vid, force=force)
            report.outcomes.append(outcome)
            progress.advance(outcome.state, f"{vid} {outcome.error or ''}".strip())
        report.finished_at = datetime.now(UTC)
        return report

    def one(self, video_id: str, *, force: bool = False) -> SegmentOutcome:
        started = time.monotonic()
        try:
            validate_video_id(video_id)
        except InputError as exc:
            return SegmentOutcome(video_id=str(video_id)[:64], state="failed", error=str(exc))
        doc = self.videos.find_one({"_id": video_id}, {"state": 1, "clip": 1, "stages": 1})
        if doc is None:
            return SegmentOutcome(
                video_id=video_id, state="failed", error=f"[{video_id}] not in the ledger"
            )
        if doc.get("state") != "stored" or not (doc.get("clip") or {}).get("uri"):
            return SegmentOutcome(
                video_id=video_id,
                state="skipped",
                error=f"[{video_id}] is {doc.get('state')!r}, not stored with a clip: acquire it first",
            )
        stage = (doc.get("stages") or {}).get(store.STAGE) or {}
        if not force and stage.get("state") == "done" and stage.get("version") == self.version:
            return SegmentOutcome(
                video_id=video_id,
                state="skipped",
                nodes=stage.get("nodes", 0),
                error=f"[{video_id}] already segmented by {self.version}",
            )
        try:
            tree, frames = self._segment(video_id, doc["clip"]["uri"])
        except Exception as exc:  # noqa: BLE001 - one bad video never stops the batch
            error = video_failure(video_id, exc, "segment")
            # A clip without a video stream stays broken; anything else may pass.
            store.mark_stage(
                self.videos,
                video_id,
                state="failed",
                backend=self.embedder.name,
                version=self.version,
                error=error,
                retryable=not isinstance(exc, NoVideoStream),
            )
            return SegmentOutcome(
                video_id=video_id, state="failed", error=error, seconds=time.monotonic() - started
            )
        written = store.replace_tree(self.nodes, video_id, self.version, tree)
        leaves = sum(n.is_leaf for n in tree)
        facts = {
            "nodes": len(tree),
            "leaves": leaves,
            "duration": frames.duration,
            "frames": len(frames.times),
            "corrupt_frames": frames.corrupt,
        }
        store.mark_stage(
            self.videos,
            video_id,
            state="done",
            backend=self.embedder.name,
            version=self.version,
            facts=facts,
        )
        log.info(
            "[%s] %d nodes (%d leaves) over %.1f s; %s",
            video_id,
            len(tree),
            leaves,
            frames.duration,
            written,
        )
        return SegmentOutcome(
            video_id=video_id, state="done", seconds=time.monotonic() - started, **facts
        )

    def _segment(self, video_id: str, uri: str) -> tuple[list[Node], SampledFrames]:
        with tempfile.TemporaryDirectory(prefix=f"actionlens-segment-{video_id}-") as tmp:
            local = self.bucket.download(
                bucket_key(uri, self.bucket), Path(tmp) / f"{video_id}.mp4"
            )
            frames = SampledFrames(
                local,
                self.embedder.frame_size,
                video_id=video_id,
                sample_every=self.cfg.sample_every,
                threads=self.cfg.decode_threads,
            )
            tree = segment_frames(
                frames,
                self.embedder,
                video_id=video_id,
                segmenter=self.version,
                min_leaf_seconds=self.cfg.min_leaf_seconds,
            )
        return tree, frames


def segment_batch(
    settings: Settings, video_ids: list[str], *, force: bool = False
) -> SegmentReport:
    return Segmenter(settings).run(video_ids, force=force)


def ids_from_events(events: object) -> list[str]:
    """Video ids carried in `extra["video_ids"]` of triggering asset events.

    `events` is Airflow's `triggering_asset_events` (asset → list of events) or a plain
    list of events; anything without ids is ignored.
    """
    groups = events.values() if hasattr(events, "values") else [events or []]
    found: list[str] = []
    for group in groups:
        for event in group or []:
            extra = (
                getattr(event, "extra", None) if not isinstance(event, dict) else event.get("extra")
            )
            for vid in (extra or {}).get("video_ids") or []:
                if isinstance(vid, str) and vid not in found:
                    found.append(vid)
    return found


def plan_batches(settings: Settings, triggered: list[str], *, db=None) -> list[list[str]]:
    """Triggered ids first, then stored videos still missing a segment stage, in batches."""
    cfg = settings.segment
    db = db if db is not None else connect(settings)
    ids: list[str] = []
    for vid in triggered:
        try:
            validate_video_id(vid)
        except InputError as exc:
            log.warning("plan segment: dropping %s", exc)
            continue
        if vid not in ids:
            ids.append(vid)
    seen = set(ids)
    for vid in store.pending_ids(
        db[VIDEOS], limit=cfg.backlog_limit, max_attempts=cfg.max_attempts
    ):
        if vid not in seen:
            ids.append(vid)
            seen.add(vid)
    size = cfg.batch_videos
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def merge_reports(reports: list[dict | None]) -> dict:
    """Fold batch reports (XComs; None for a batch that died) into ids and counts."""
    counts: dict[str, int] = {}
    ready: list[str] = []  # have a current tree: segmented now or already before
    for raw in reports:
        if raw is None:
            counts["batch_lost"] = counts.get("batch_lost", 0) + 1
            continue
        report = SegmentReport.model_validate(raw)
        for o in report.outcomes:
            counts[o.state] = counts.get(o.state, 0) + 1
        ready.extend(
            o.video_id
            for o in report.outcomes
            if o.state == "done" or (o.state == "skipped" and o.nodes)
        )
    return {"segmented": sorted(set(ready)), "counts": counts}
