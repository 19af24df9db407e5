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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from actionlens.annotations import Outcome as Answer
from actionlens.annotations import answer_counts, converse, tally
from actionlens.errors import InputError
from actionlens.lifetime import scratch
from actionlens.media.frames import (
    FRAME_SIZE,
    FRAMES_PER_SEGMENT,
    MAX_FRAMES_PER_PASS,
    FrameRequest,
    decode_at,
    frame_passes,
    segment_times,
)
from actionlens.models import ChatModel, ChatRequest, Video, load_model, user
from actionlens.opinions import prompt as P
from actionlens.runtime import Outcome, Result, VideoStage, merge_reports
from actionlens.settings import OpinionSource, Settings
from actionlens.tree import TreeNode, is_annotated

log = logging.getLogger(__name__)

STAGE = "opinions"


def version(model_id: str) -> str:
    return f"{model_id}@{P.prompt_hash()}"


def _node(doc: dict[str, Any]) -> TreeNode:
    return TreeNode(
        doc["_id"],
        doc.get("parent_id"),
        int(doc.get("level") or 0),
        float(doc["start"]),
        float(doc["end"]),
        doc,
    )


def _counts() -> dict[str, Any]:
    """A video's facts: its annotated nodes and the answers about them."""
    return {"annotated_nodes": 0, **answer_counts()}


class OpinionRunner(VideoStage):
    """Asks one loaded opinion model about the stale annotated nodes of a batch of videos."""

    name = STAGE
    ready_key = "opined"

    def __init__(self, settings: Settings, model: ChatModel, source: str, *, db=None, bucket=None):
        from actionlens.store.mongo import VIDEOS, connect
        from actionlens.store.storage import open_bucket

        self.settings = settings
        self.model = model
        self.source = source
        self.opinion_sources = {s.source for s in settings.opinions.sources} | {source}
        self.db = db if db is not None else connect(settings)
        self.ledger = self.db[VIDEOS]
        self.bucket = bucket or open_bucket(settings)
        self.max_new_tokens = next(
            (s.max_new_tokens for s in settings.opinions.sources if s.source == source), 1024
        )
        self.needs_gpu = model.needs_gpu
        self.needs_frames = model.needs_frames
        self.needs_clip = model.needs_frames  # the runner checks the clip first
        self.force = False
        self.asked = 0

    @property
    def version(self) -> str:
        return version(self.model.model_id)

    def setup(self) -> None:
        self.asked = 0  # nodes asked in this batch

    @property
    def label(self) -> str:
        return f"opinions[{self.source}]"

    @property
    def ledger_key(self) -> str:
        return f"{STAGE}.{self.source}"

    def run(self, video_ids: list[str], *, force: bool = False) -> dict[str, Any]:
        """The batch's result (JSON) for this source, with the opined ids."""
        self.force = force
        return self.run_batch(video_ids).as_dict()

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model_id": self.model.model_id,
            "backend": self.model.backend,
            "baseline": self.model.baseline,
            "prompt_hash": P.prompt_hash(),
            "version": self.version,
            "nodes": self.asked,
        }

    def record(self, video_id: str, result: Result) -> dict[str, Any]:
        return {
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            **_counts(),
            **result.facts,
        }

    def process(self, video_id: str) -> Result:
        from actionlens.store.mongo import NODES, VIDEOS

        docs = [
            d
            for d in self.db[NODES].find({"video_id": video_id})
            if is_annotated(d, self.opinion_sources)
        ]
        if not docs:
            raise InputError(
                f"[{video_id}] has no annotated node: run `aggregate` or import references first"
            )
        stale = [
            _node(d)
            for d in docs
            if self.force or self.is_stale((d.get("annotations") or {}).get(self.source))
        ]
        facts = {**_counts(), "annotated_nodes": len(docs)}
        if not stale:
            return Result(Outcome.UP_TO_DATE, facts=facts)
        video = self.db[VIDEOS].find_one({"_id": video_id}, {"transcript": 1}) or {}
        transcript = (video.get("transcript") or {}).get("segments") or []
        with scratch("opinions") as tmp:
            clip = self._clip(video_id, Path(tmp)) if self.needs_frames else None
            for chunk in frame_passes(stale, MAX_FRAMES_PER_PASS):
                requests = [
                    ChatRequest(
                        [user(video, P.render_prompt(n.start, n.end))],
                        self.max_new_tokens,
                        {"span": (n.start, n.end), "transcript": transcript, "node_id": n.id},
                    )
                    for n, video in zip(chunk, self._frames(clip, chunk), strict=True)
                ]
                self._write(chunk, converse(self.model, requests), facts)
        error = None
        if facts["errors"]:
            error = f"{facts['errors']} of {facts['asked']} nodes got no answer from the model"
        elif facts["invalid"]:
            error = (
                f"{facts['invalid']} of {facts['asked']} nodes stayed invalid after repair"
                " (raw text kept)"
            )
        return Result(Outcome.FAILED if facts["ok"] == 0 else Outcome.DONE, error, facts)

    def _clip(self, video_id: str, folder: Path) -> Path:
        from actionlens.store.storage import clip_key

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

    def document(self, outcome: Answer, now: datetime) -> dict[str, Any]:
        return outcome.document(
            self.model,
            prompt_hash=P.prompt_hash(),
            version=self.version,
            now=now,
            frames=FRAMES_PER_SEGMENT,
            size=FRAME_SIZE,
        )

    def _write(self, nodes: list[TreeNode], outcomes: list[Answer], facts: dict) -> None:
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
        self.asked += len(outcomes)
        for o in outcomes:
            tally(facts, o)


def load_opinion_model(spec: OpinionSource, settings: Settings) -> ChatModel:
    """The backend of one opinion source."""
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
    batch = {"sources": reports}
    return {**batch, **merge_reports([batch], OpinionRunner.ready_key, parts="sources")}
