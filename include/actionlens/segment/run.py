"""Segment a batch of stored clips: fetch, decode, embed, Ward tree, upsert, record.

`segment_batch` is the heavy step (a GPU pod or a local subprocess): it loads the
embedder once and goes through the batch; one video's failure is recorded on its ledger
document and never stops the others. `plan_batches` runs in the scheduler's worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from actionlens.errors import InputError
from actionlens.lifetime import scratch
from actionlens.records import validate_video_id
from actionlens.runtime import Freshness, Outcome, Result, StageReport, VideoStage
from actionlens.segment import store
from actionlens.segment.decode import NoVideoStream, SampledFrames
from actionlens.segment.embed import Embedder, make_embedder
from actionlens.segment.store import STAGE
from actionlens.segment.tree import Node, build_tree
from actionlens.settings import Settings
from actionlens.store.mongo import NODES, VIDEOS, connect
from actionlens.store.storage import Bucket, bucket_key, open_bucket

log = logging.getLogger(__name__)

TREE_VERSION = "ward-chain-v1"


def segmenter_version(embedder: Embedder, sample_every: int, min_leaf_seconds: float) -> str:
    """Everything that shapes a tree, in one string stored on every node."""
    return f"{embedder.version}|every{sample_every}|{TREE_VERSION}|leaf{min_leaf_seconds:g}s"


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


class Segmenter(VideoStage):
    """Holds the embedder and the stores for a batch of videos."""

    name = STAGE
    ready_key = "segmented"
    # The ledger record is current when this segmenter version built the tree.
    freshness = Freshness(status_field="state", only=frozenset({"done"}))
    needs_frames = True
    needs_clip = True  # the runner checks the clip against the ledger first

    def __init__(
        self,
        settings: Settings,
        *,
        db=None,
        bucket: Bucket | None = None,
        embedder: Embedder | None = None,
        force: bool = False,
    ):
        self.settings = settings
        self.cfg = settings.segment
        self.db = db if db is not None else connect(settings)
        self.videos, self.nodes = self.db[VIDEOS], self.db[NODES]
        self.ledger = self.videos
        store.ensure_node_indexes(self.nodes)
        self.bucket = bucket or open_bucket(settings)
        self.embedder = embedder or make_embedder(self.cfg)
        self.needs_gpu = self.embedder.needs_gpu
        self.version = segmenter_version(
            self.embedder, self.cfg.sample_every, self.cfg.min_leaf_seconds
        )
        self.force = force

    def run(self, video_ids: Iterable[str], *, force: bool = False) -> StageReport:
        self.force = force
        return self.run_batch(list(video_ids))

    def describe(self) -> dict:
        return {"segmenter": self.embedder.name, "version": self.version}

    def process(self, video_id: str) -> Result:
        doc = self.videos.find_one({"_id": video_id}, {"state": 1, "clip": 1, "stages": 1})
        if doc is None:
            return Result(Outcome.FAILED, f"[{video_id}] not in the ledger", record=False)
        if doc.get("state") != "stored" or not (doc.get("clip") or {}).get("uri"):
            return Result(
                Outcome.SKIPPED,
                f"[{video_id}] is {doc.get('state')!r}, not stored with a clip: acquire it first",
                record=False,
            )
        stage = (doc.get("stages") or {}).get(STAGE) or {}
        if not self.force and not self.is_stale(stage):
            return Result(
                Outcome.UP_TO_DATE,
                f"[{video_id}] already segmented by {self.version}",
                {"nodes": stage.get("nodes", 0)},
                record=False,
            )
        tree, frames = self._segment(video_id, doc["clip"]["uri"])
        written = store.replace_tree(self.nodes, video_id, self.version, tree)
        superseded = store.supersede_others(self.db, video_id, self.version)
        if superseded:
            written["superseded"] = len(superseded)
            log.info(
                "[%s] trees %s superseded by %s (kept for audit)",
                video_id,
                superseded,
                self.version,
            )
        leaves = sum(n.is_leaf for n in tree)
        log.info(
            "[%s] %d nodes (%d leaves) over %.1f s; %s",
            video_id,
            len(tree),
            leaves,
            frames.duration,
            written,
        )
        facts = {
            "nodes": len(tree),
            "leaves": leaves,
            "duration": frames.duration,
            "frames": len(frames.times),
            "corrupt_frames": frames.corrupt,
        }
        return Result(Outcome.DONE, facts=facts)

    def failed(self, video_id: str, exc: BaseException) -> Result:
        # A clip without a video stream stays broken; anything else may pass.
        result = super().failed(video_id, exc)
        result.facts["retryable"] = not isinstance(exc, NoVideoStream)
        return result

    def record(self, video_id: str, result: Result) -> dict:
        return {"segmenter": self.embedder.name, "retryable": False, **result.facts}

    def _segment(self, video_id: str, uri: str) -> tuple[list[Node], SampledFrames]:
        with scratch(f"segment-{video_id}") as tmp:
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


def segment_batch(settings: Settings, video_ids: list[str], *, force: bool = False) -> StageReport:
    return Segmenter(settings).run(video_ids, force=force)


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
