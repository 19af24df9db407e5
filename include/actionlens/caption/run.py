"""Stage 2 around the stores: a batch of videos, each tree's stale nodes captioned, the
captions written to `nodes.captions.<source>` and the stage recorded on the ledger.

A node is stale when it has no caption from this model under the current prompt version
(or its last attempt failed); a rerun captions only those.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.caption.frames import (
    FRAME_SIZE,
    FRAMES_PER_SEGMENT,
    FrameRequest,
    decode_at,
    middle_time,
    segment_times,
)
from actionlens.models import (
    ChatModel,
    ChatRequest,
    Generation,
    Image,
    Video,
    load_model,
    source_key,
    user,
)
from actionlens.progress import Progress
from actionlens.settings import Settings
from actionlens.tree import Tree, TreeNode, load_tree

log = logging.getLogger(__name__)

STAGE = "caption"
IMAGE_PROMPT = "Describe this image in detail."
VIDEO_PROMPT = "Describe this video in detail."
PROMPT_VERSION = "caption-v1"  # bump when the prompts or the frame sampling change
MAX_FRAMES_PER_PASS = 2048  # ~0.6 GB of 320x320 frames held at once


@dataclass
class NodeFrames:
    """What one node is captioned from."""

    node: TreeNode
    video: Video
    image: Image | None  # leaves only


def frame_requests(nodes: list[TreeNode]) -> list[FrameRequest]:
    """All frames the nodes need, in node order: 32 per node, then a leaf's middle frame."""
    size = (FRAME_SIZE, FRAME_SIZE)
    out = []
    for n in nodes:
        out += [FrameRequest(t, size) for t in segment_times(n.start, n.end)]
        if n.is_leaf:
            out.append(FrameRequest(middle_time(n.start, n.end), None))
    return out


def node_frames(clip: Path, nodes: list[TreeNode]) -> list[NodeFrames]:
    """Decode the clip once and hand every node its frames."""
    requests = frame_requests(nodes)
    frames = decode_at(clip, requests)
    out, k = [], 0
    for n in nodes:
        times = tuple(r.time for r in requests[k : k + FRAMES_PER_SEGMENT])
        video = Video(np.stack(frames[k : k + FRAMES_PER_SEGMENT]), times)
        k += FRAMES_PER_SEGMENT
        image = None
        if n.is_leaf:
            image = Image(frames[k], requests[k].time)
            k += 1
        out.append(NodeFrames(n, video, image))
    return out


def caption_requests(items: list[NodeFrames], transcript: list[dict], max_new_tokens: int):
    """(node, kind, request) for every caption to ask for."""
    out = []
    for item in items:
        ctx = {"span": (item.node.start, item.node.end), "transcript": transcript}
        out.append(
            (item.node, "video", ChatRequest([user(item.video, VIDEO_PROMPT)], max_new_tokens, ctx))
        )
        if item.image is not None:
            t = item.image.time or item.node.middle
            fctx = {"span": (item.node.start, item.node.end), "time": t, "transcript": transcript}
            out.append(
                (
                    item.node,
                    "frame",
                    ChatRequest([user(item.image, IMAGE_PROMPT)], max_new_tokens, fctx),
                )
            )
    return out


def frame_passes(nodes: list[TreeNode], max_frames: int) -> list[list[TreeNode]]:
    """Nodes in time order, cut into passes of at most `max_frames` frame requests each
    (a node is never split; a node alone may exceed the budget)."""
    passes: list[list[TreeNode]] = []
    count = 0
    for node in sorted(nodes, key=lambda n: (n.start, n.end)):
        need = FRAMES_PER_SEGMENT + (1 if node.is_leaf else 0)
        if not passes or count + need > max_frames:
            passes.append([])
            count = 0
        passes[-1].append(node)
        count += need
    return passes


def is_stale(node: TreeNode, source: str) -> bool:
    entry = (node.doc.get("captions") or {}).get(source)
    return not (
        isinstance(entry, dict)
        and entry.get("prompt_version") == PROMPT_VERSION
        and entry.get("status") == "ok"
    )


def _entry(gen: Generation, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": gen.text,
        "usage": gen.usage.as_dict(),
        "finish_reason": gen.finish_reason,
        "error": gen.error,
        "seconds": round(gen.seconds, 3),
        **extra,
    }


@dataclass
class VideoCaptions:
    video_id: str
    status: str  # "captioned" | "up_to_date" | "failed"
    segmenter: str | None = None
    nodes: int = 0
    captioned: int = 0
    failed: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class CaptionReport:
    source: str
    model_id: str
    baseline: bool
    prompt_version: str = PROMPT_VERSION
    videos: list[VideoCaptions] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model_id": self.model_id,
            "baseline": self.baseline,
            "prompt_version": self.prompt_version,
            "videos": [v.__dict__ for v in self.videos],
            "captioned": [
                v.video_id for v in self.videos if v.status in ("captioned", "up_to_date")
            ],
            "failed": [v.video_id for v in self.videos if v.status == "failed"],
        }


class Captioner:
    """Captions the stale nodes of one video's tree with one loaded model."""

    def __init__(self, settings: Settings, model: ChatModel, *, db=None, bucket=None):
        from actionlens.store.mongo import connect
        from actionlens.store.storage import open_bucket

        self.settings = settings
        self.model = model
        self.source = source_key(model.model_id)
        self.db = db if db is not None else connect(settings)
        self.bucket = bucket or open_bucket(
            settings.bucket_uri(), endpoint=settings.gcs_endpoint, project=settings.gcs_project
        )
        self.max_new_tokens = settings.models.captioner.max_new_tokens
        # Weight-free baselines read no pixels: skip decoding for them.
        self.needs_frames = getattr(model, "needs_frames", True)

    def run(
        self, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
    ) -> CaptionReport:
        report = CaptionReport(self.source, self.model.model_id, self.model.baseline)
        progress = Progress("caption", len(video_ids))
        for vid in video_ids:
            started = time.monotonic()
            try:
                result = self.one(vid, segmenter=segmenter, force=force)
            except Exception as exc:  # one video never stops the batch
                log.exception("[%s] captioning failed", vid)
                result = VideoCaptions(vid, "failed", error=f"{type(exc).__name__}: {exc}")
            result.seconds = round(time.monotonic() - started, 3)
            self._mark(result)
            report.videos.append(result)
            progress.advance(
                result.status, f"{vid} {result.captioned} nodes {result.error or ''}".strip()
            )
        return report

    def one(
        self, video_id: str, *, segmenter: str | None = None, force: bool = False
    ) -> VideoCaptions:
        from actionlens.records import validate_video_id
        from actionlens.store.mongo import VIDEOS

        validate_video_id(video_id)
        tree = load_tree(self.db, video_id, segmenter)
        stale = [n for n in tree.depth_first() if force or is_stale(n, self.source)]
        result = VideoCaptions(video_id, "up_to_date", tree.segmenter, nodes=len(tree))
        if not stale:
            return result
        video = self.db[VIDEOS].find_one({"_id": video_id}, {"transcript": 1}) or {}
        transcript = (video.get("transcript") or {}).get("segments") or []
        with tempfile.TemporaryDirectory(prefix="actionlens-caption-") as tmp:
            clip = self._clip(tree, Path(tmp)) if self.needs_frames else None
            # Frames of a pass stay in memory until its captions are written: passes
            # bound that memory on long videos (a 90 s clip's tree is one pass).
            for chunk in frame_passes(stale, MAX_FRAMES_PER_PASS):
                items = self._frames(clip, chunk)
                asks = caption_requests(items, transcript, self.max_new_tokens)
                gens = self.model.generate([r for _, _, r in asks])
                self._write(tree, asks, gens, result)
        # Partly captioned trees go on to aggregation; their failed nodes stay stale and
        # are retried by the next run. Only a tree with no caption at all fails here.
        result.status = "failed" if result.captioned == 0 else "captioned"
        if result.failed:
            result.error = f"{result.failed} of {len(stale)} nodes got no caption"
        return result

    def _clip(self, tree: Tree, folder: Path) -> Path:
        from actionlens.acquire.run import clip_key

        return self.bucket.download(clip_key(tree.video_id), folder / "clip.mp4")

    def _frames(self, clip: Path | None, nodes: list[TreeNode]) -> list[NodeFrames]:
        if clip is None:
            blank = np.zeros((FRAMES_PER_SEGMENT, 1, 1, 3), np.uint8)
            return [
                NodeFrames(
                    n,
                    Video(blank, tuple(segment_times(n.start, n.end))),
                    Image(blank[0], n.middle) if n.is_leaf else None,
                )
                for n in nodes
            ]
        return node_frames(clip, nodes)

    def _write(self, tree: Tree, asks, gens: list[Generation], result: VideoCaptions) -> None:
        from pymongo import UpdateOne

        from actionlens.store.mongo import NODES

        now = datetime.now(UTC)
        entries: dict[str, dict[str, Any]] = {}
        for (node, kind, request), gen in zip(asks, gens, strict=True):
            entry = entries.setdefault(
                node.id,
                {
                    "model_id": self.model.model_id,
                    "backend": self.model.backend,
                    "baseline": self.model.baseline,
                    "prompt_version": PROMPT_VERSION,
                    "status": "ok",
                    "updated_at": now,
                },
            )
            if kind == "video":
                entry["video"] = _entry(
                    gen,
                    {
                        "frames": FRAMES_PER_SEGMENT,
                        "size": FRAME_SIZE,
                        "span": [node.start, node.end],
                        "prompt": VIDEO_PROMPT,
                    },
                )
            else:
                entry["frame"] = _entry(
                    gen, {"time": request.context["time"], "prompt": IMAGE_PROMPT}
                )
            if not gen.ok:
                entry["status"] = "error"
        ops = [
            UpdateOne({"_id": nid}, {"$set": {f"captions.{self.source}": entry}})
            for nid, entry in entries.items()
        ]
        if ops:
            self.db[NODES].bulk_write(ops, ordered=False)
        failed = sum(1 for e in entries.values() if e["status"] != "ok")
        result.failed += failed
        result.captioned += len(entries) - failed

    def _mark(self, result: VideoCaptions) -> None:
        from actionlens.store.mongo import VIDEOS

        self.db[VIDEOS].update_one(
            {"_id": result.video_id},
            {
                "$set": {
                    f"stages.{STAGE}": {
                        "state": "done"
                        if result.status in ("captioned", "up_to_date")
                        else "failed",
                        "source": self.source,
                        "model_id": self.model.model_id,
                        "baseline": self.model.baseline,
                        "prompt_version": PROMPT_VERSION,
                        "segmenter": result.segmenter,
                        "nodes": result.nodes,
                        "captioned": result.captioned,
                        "failed": result.failed,
                        "error": result.error,
                        "at": datetime.now(UTC),
                    }
                }
            },
        )


def caption_batch(
    settings: Settings, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
) -> CaptionReport:
    """Load the configured captioner once and caption every video of the batch."""
    model = load_model(settings.models.captioner, settings.models)
    try:
        return Captioner(settings, model).run(video_ids, segmenter=segmenter, force=force)
    finally:
        model.close()


def batch_arguments(video_ids: list[str], size: int) -> list[list[str]]:
    """One `--videos a,b,…` argument list per batch of at most `size` ids (order kept)."""
    ids = list(dict.fromkeys(video_ids))
    return [["--videos", ",".join(ids[i : i + size])] for i in range(0, len(ids), size)]


def merge_caption_reports(reports: list[dict | None]) -> dict[str, Any]:
    """Fold caption batch results (XComs; None for a batch that died) into ids and counts."""
    captioned: list[str] = []
    failed: list[str] = []
    lost = 0
    for report in reports:
        if report is None:
            lost += 1
            continue
        captioned += report.get("captioned") or []
        failed += report.get("failed") or []
    return {
        "captioned": sorted(set(captioned)),
        "failed": sorted(set(failed)),
        "batches_lost": lost,
    }
