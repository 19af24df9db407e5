"""Stage 3 around the stores: the eligible, stale nodes of a batch of videos annotated in
one Self-Refine conversation each, all conversations advancing together, stored under
`nodes.annotations.ours`.

A node is stale when its stored annotation was made by another model or prompt version
(or got no answer at all); a rerun annotates only those. A node whose answer stays
invalid after the repair turn is stored as failed with the raw text; the batch goes on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from actionlens.aggregate import prompt as P
from actionlens.annotations import Outcome as Answer
from actionlens.annotations import answer_counts, converse, tally
from actionlens.errors import InputError
from actionlens.models import ChatModel, ChatRequest, load_model, source_key, user
from actionlens.runtime import Outcome, Result, VideoStage
from actionlens.settings import Settings
from actionlens.tree import REFERENCE_VIDEO_SOURCE, Tree, TreeNode, caption_texts, load_tree

log = logging.getLogger(__name__)

STAGE = "aggregate"
SOURCE = "ours"


def eligible(tree: Tree) -> list[TreeNode]:
    """Non-leaf nodes lasting at least MIN_SECONDS, depth-first."""
    return [n for n in tree.depth_first() if not n.is_leaf and n.duration >= P.MIN_SECONDS]


def version(model_id: str) -> str:
    return f"{model_id}@{P.prompt_hash()}"


def input_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def caption_source(tree: Tree, preferred: str) -> str:
    """The configured captioner's source if the tree has its captions, else Action100M's."""
    for source in (preferred, REFERENCE_VIDEO_SOURCE):
        if any(caption_texts(node, source)[0] for node in tree.depth_first()):
            return source
    raise InputError(
        f"[{tree.video_id}] tree {tree.segmenter!r} has no captions from {preferred!r}: run `caption` first"
    )


@dataclass
class _Job:
    tree: Tree
    node: TreeNode
    source: str
    request: ChatRequest


def _counts() -> dict[str, Any]:
    """A video's facts: its tree, eligible nodes and the answers about those asked now."""
    return {"segmenter": None, "eligible": 0, **answer_counts()}


class Aggregator(VideoStage):
    """Annotates the stale eligible nodes of a batch of videos with one loaded model: all
    conversations advance together (one batch of requests per turn)."""

    name = STAGE
    ready_key = "annotated"
    batched = True

    def __init__(
        self, settings: Settings, model: ChatModel, *, db=None, captions: str | None = None
    ):
        from actionlens.store.mongo import VIDEOS, connect

        self.settings = settings
        self.model = model
        self.db = db if db is not None else connect(settings)
        self.ledger = self.db[VIDEOS]
        self.captions = captions or source_key(settings.models.captioner.model_id)
        self.max_new_tokens = settings.models.aggregator.max_new_tokens
        self.needs_gpu = model.needs_gpu
        self.segmenter: str | None = None
        self.force = False
        self._jobs: dict[str, list[_Job]] = {}
        self._facts: dict[str, dict[str, Any]] = {}

    @property
    def version(self) -> str:
        return version(self.model.model_id)

    def run(
        self, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """The batch's result (JSON), with the annotated ids."""
        self.segmenter, self.force = segmenter, force
        return self.run_batch(video_ids).as_dict()

    def setup(self) -> None:
        self._jobs, self._facts = {}, {}

    def describe(self) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            "prompt_hash": P.prompt_hash(),
            "version": self.version,
            "nodes": sum(len(jobs) for jobs in self._jobs.values()),
        }

    def record(self, video_id: str, result: Result) -> dict[str, Any]:
        facts = {**_counts(), **result.facts}
        return {
            "source": SOURCE,
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            "segmenter": facts["segmenter"],
            "eligible": facts["eligible"],
            "annotated": facts["ok"],  # nodes with a valid annotation now
            "invalid": facts["invalid"],
            "errors": facts["errors"],
            "usage": facts["usage"],
        }

    def prepare(self, video_id: str) -> Result | None:
        from actionlens.store.mongo import VIDEOS

        tree = load_tree(self.db, video_id, self.segmenter)
        video = self.db[VIDEOS].find_one({"_id": video_id}) or {}
        jobs = self.plan(tree, video, force=self.force)
        facts = {**_counts(), "segmenter": tree.segmenter, "eligible": len(eligible(tree))}
        self._facts[video_id] = facts
        if not jobs:
            return Result(Outcome.UP_TO_DATE, facts=facts)
        self._jobs[video_id] = jobs
        return None

    def process_batch(self, video_ids: list[str]) -> dict[str, Result]:
        jobs = [j for vid in video_ids for j in self._jobs[vid]]
        log.info(
            "aggregate: %d nodes to annotate in %d videos with %s",
            len(jobs),
            len(video_ids),
            self.version,
        )
        outcomes = converse(self.model, [j.request for j in jobs], [P.REVISION] * (P.ROUNDS - 1))
        self.write(jobs, outcomes)
        results = {}
        for vid in video_ids:
            facts = self._facts[vid]
            error = None
            if facts["errors"]:
                error = f"{facts['errors']} nodes got no answer from the model"
            elif facts["invalid"]:
                error = f"{facts['invalid']} nodes stayed invalid after repair (raw text kept)"
            results[vid] = Result(Outcome.DONE, error, facts)
        return results

    def plan(self, tree: Tree, video: dict[str, Any], *, force: bool = False) -> list[_Job]:
        source = caption_source(tree, self.captions)
        jobs = []
        for node in eligible(tree):
            text = P.render_prompt(video, tree.root, node, source)
            stored = (node.doc.get("annotations") or {}).get(SOURCE)
            if not force and not self.is_stale(stored, input_hash(text)):
                continue
            request = ChatRequest(
                [user(text)],
                self.max_new_tokens,
                {"captions": P.subtree_captions(node, source), "node_id": node.id},
            )
            jobs.append(_Job(tree, node, source, request))
        return jobs

    def document(self, job: _Job, outcome: Answer, now: datetime) -> dict[str, Any]:
        return outcome.document(
            self.model,
            prompt_hash=P.prompt_hash(),
            version=self.version,
            now=now,
            caption_source=job.source,
            input_hash=input_hash(job.request.messages[0].text()),
        )

    def write(self, jobs: list[_Job], outcomes: list[Answer]) -> None:
        from pymongo import UpdateOne

        from actionlens.store.mongo import NODES

        now = datetime.now(UTC)
        ops = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            ops.append(
                UpdateOne(
                    {"_id": job.node.id},
                    {"$set": {f"annotations.{SOURCE}": self.document(job, outcome, now)}},
                )
            )
            tally(self._facts[job.tree.video_id], outcome)
        if ops:
            self.db[NODES].bulk_write(ops, ordered=False)


def aggregate_batch(
    settings: Settings,
    video_ids: list[str],
    *,
    segmenter: str | None = None,
    captions: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Load the configured aggregator once and annotate every video of the batch."""
    model = load_model(settings.models.aggregator, settings.models)
    try:
        return Aggregator(settings, model, captions=captions).run(
            video_ids, segmenter=segmenter, force=force
        )
    finally:
        model.close()
