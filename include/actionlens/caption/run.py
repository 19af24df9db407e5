"""Stage 2 around the stores: a batch of videos, each tree's stale nodes captioned, the
captions written to `nodes.captions.<source>` and the stage recorded on the ledger.

A node is stale when it has no caption from this model under the current prompt version
(or its last attempt failed); a rerun captions only those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.lifetime import scratch
from actionlens.media.frames import (
    FRAME_SIZE,
    FRAMES_PER_SEGMENT,
    MAX_FRAMES_PER_PASS,
    FrameRequest,
    decode_at,
    frame_passes,
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
from actionlens.runtime import Freshness, Outcome, Result, StageReport, VideoStage
from actionlens.settings import Settings
from actionlens.tree import Tree, TreeNode, load_tree

log = logging.getLogger(__name__)

STAGE = "caption"
IMAGE_PROMPT = "Describe this image in detail."
VIDEO_PROMPT = "Describe this video in detail."
PROMPT_VERSION = "caption-v1"  # bump when the prompts or the frame sampling change


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


def _entry(gen: Generation, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": gen.text,
        "usage": gen.usage.as_dict(),
        "finish_reason": gen.finish_reason,
        "error": gen.error,
        "seconds": round(gen.seconds, 3),
        **extra,
    }


class Captioner(VideoStage):
    """Captions the stale nodes of one video's tree with one loaded model."""

    name = STAGE
    ready_key = "captioned"
    # A node's caption is current when made under this prompt version and it succeeded.
    freshness = Freshness(version_field="prompt_version", only=frozenset({"ok"}))

    def __init__(
        self,
        settings: Settings,
        model: ChatModel,
        *,
        db=None,
        bucket=None,
        segmenter: str | None = None,
        force: bool = False,
    ):
        from actionlens.store.mongo import VIDEOS, connect
        from actionlens.store.storage import open_bucket

        self.settings = settings
        self.model = model
        self.source = source_key(model.model_id)
        self.db = db if db is not None else connect(settings)
        self.bucket = bucket or open_bucket(settings)
        self.max_new_tokens = settings.models.captioner.max_new_tokens
        self.needs_gpu = model.needs_gpu
        # Weight-free baselines read no pixels: skip decoding for them.
        self.needs_frames = model.needs_frames
        self.needs_clip = model.needs_frames  # the runner checks the clip first
        self.segmenter, self.force = segmenter, force
        self.ledger = self.db[VIDEOS]

    @property
    def version(self) -> str:
        return PROMPT_VERSION

    def run(
        self, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
    ) -> StageReport:
        self.segmenter, self.force = segmenter, force
        return self.run_batch(video_ids)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            "prompt_version": PROMPT_VERSION,
        }

    def record(self, video_id: str, result: Result) -> dict[str, Any]:
        return {
            "source": self.source,
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            "prompt_version": PROMPT_VERSION,
            "segmenter": None,
            "nodes": 0,
            "captioned": 0,
            "failed": 0,
            **result.facts,
        }

    def process(self, video_id: str) -> Result:
        from actionlens.store.mongo import VIDEOS

        tree = load_tree(self.db, video_id, self.segmenter)
        stale = [
            n
            for n in tree.depth_first()
            if self.force or self.is_stale((n.doc.get("captions") or {}).get(self.source))
        ]
        facts = {"segmenter": tree.segmenter, "nodes": len(tree), "captioned": 0, "failed": 0}
        if not stale:
            return Result(Outcome.UP_TO_DATE, facts=facts)
        video = self.db[VIDEOS].find_one({"_id": video_id}, {"transcript": 1}) or {}
        transcript = (video.get("transcript") or {}).get("segments") or []
        with scratch("caption") as tmp:
            clip = self._clip(tree, Path(tmp)) if self.needs_frames else None
            # Frames of a pass stay in memory until its captions are written: passes
            # bound that memory on long videos (a 90 s clip's tree is one pass).
            for chunk in frame_passes(stale, MAX_FRAMES_PER_PASS):
                items = self._frames(clip, chunk)
                asks = caption_requests(items, transcript, self.max_new_tokens)
                gens = self.model.generate([r for _, _, r in asks])
                self._write(tree, asks, gens, facts)
        # Partly captioned trees go on to aggregation; their failed nodes stay stale and
        # are retried by the next run. Only a tree with no caption at all fails here.
        error = None
        if facts["failed"]:
            error = f"{facts['failed']} of {len(stale)} nodes got no caption"
        outcome = Outcome.FAILED if facts["captioned"] == 0 else Outcome.DONE
        return Result(outcome, error, facts)

    def _clip(self, tree: Tree, folder: Path) -> Path:
        from actionlens.store.storage import clip_key

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

    def _write(self, tree: Tree, asks, gens: list[Generation], facts: dict[str, Any]) -> None:
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
        facts["failed"] += failed
        facts["captioned"] += len(entries) - failed


def caption_batch(
    settings: Settings, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
) -> StageReport:
    """Load the configured captioner once and caption every video of the batch."""
    model = load_model(settings.models.captioner, settings.models)
    try:
        return Captioner(settings, model).run(video_ids, segmenter=segmenter, force=force)
    finally:
        model.close()
