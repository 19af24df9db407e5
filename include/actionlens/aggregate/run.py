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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from actionlens.aggregate import prompt as P
from actionlens.annotations import Outcome, converse, fold_reports
from actionlens.errors import InputError
from actionlens.models import ChatModel, ChatRequest, load_model, source_key, user
from actionlens.progress import Progress
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


def is_stale(node: TreeNode, current: str, inputs: str | None = None) -> bool:
    """No annotation yet, another model or prompt version, no answer last time, or (when
    `inputs` is given) different inputs: captions or metadata changed since."""
    stored = (node.doc.get("annotations") or {}).get(SOURCE)
    if not isinstance(stored, dict):
        return True
    if stored.get("version") != current or stored.get("status") == "error":
        return True
    return inputs is not None and stored.get("input_hash") != inputs


def caption_source(tree: Tree, preferred: str) -> str:
    """The configured captioner's source if the tree has its captions, else Action100M's."""
    for source in (preferred, REFERENCE_VIDEO_SOURCE):
        if any(caption_texts(node, source)[0] for node in tree.depth_first()):
            return source
    raise InputError(
        f"[{tree.video_id}] tree {tree.segmenter!r} has no captions from {preferred!r}: run `caption` first"
    )


@dataclass
class VideoAnnotations:
    video_id: str
    status: str  # "annotated" | "up_to_date" | "failed"
    segmenter: str | None = None
    eligible: int = 0
    annotated: int = 0
    invalid: int = 0
    errors: int = 0
    error: str | None = None
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )


@dataclass
class _Job:
    tree: Tree
    node: TreeNode
    source: str
    request: ChatRequest


class Aggregator:
    """Annotates the stale eligible nodes of a batch of videos with one loaded model."""

    def __init__(
        self, settings: Settings, model: ChatModel, *, db=None, captions: str | None = None
    ):
        from actionlens.store.mongo import connect

        self.settings = settings
        self.model = model
        self.db = db if db is not None else connect(settings)
        self.captions = captions or source_key(settings.models.captioner.model_id)
        self.max_new_tokens = settings.models.aggregator.max_new_tokens

    @property
    def version(self) -> str:
        return version(self.model.model_id)

    def run(
        self, video_ids: list[str], *, segmenter: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        from actionlens.records import validate_video_id
        from actionlens.store.mongo import VIDEOS

        started = time.monotonic()
        results: dict[str, VideoAnnotations] = {}
        jobs: list[_Job] = []
        for vid in video_ids:
            try:
                validate_video_id(vid)
                tree = load_tree(self.db, vid, segmenter)
                video = self.db[VIDEOS].find_one({"_id": vid}) or {}
                mine = self.plan(tree, video, force=force)
                results[vid] = VideoAnnotations(
                    vid,
                    "up_to_date" if not mine else "annotated",
                    tree.segmenter,
                    eligible=len(eligible(tree)),
                )
                jobs += mine
            except Exception as exc:  # one video never stops the batch
                log.warning("[%s] cannot aggregate: %s", vid, exc)
                results[vid] = VideoAnnotations(vid, "failed", error=f"{type(exc).__name__}: {exc}")
        log.info(
            "aggregate: %d nodes to annotate in %d videos with %s",
            len(jobs),
            len(video_ids),
            self.version,
        )
        outcomes = converse(self.model, [j.request for j in jobs], [P.REVISION] * (P.ROUNDS - 1))
        self.write(jobs, outcomes, results)
        progress = Progress("aggregate", len(video_ids))
        for r in results.values():
            self._mark(r)
            progress.advance(
                r.status, f"{r.video_id} {r.annotated}/{r.eligible} nodes {r.error or ''}".strip()
            )
        return {
            "source": SOURCE,
            "model_id": self.model.model_id,
            "baseline": self.model.baseline,
            "prompt_hash": P.prompt_hash(),
            "version": self.version,
            "nodes": len(jobs),
            "seconds": round(time.monotonic() - started, 3),
            "videos": [r.__dict__ for r in results.values()],
            "annotated": [r.video_id for r in results.values() if r.status != "failed"],
            "failed": [r.video_id for r in results.values() if r.status == "failed"],
        }

    def plan(self, tree: Tree, video: dict[str, Any], *, force: bool = False) -> list[_Job]:
        source = caption_source(tree, self.captions)
        current = self.version
        jobs = []
        for node in eligible(tree):
            text = P.render_prompt(video, tree.root, node, source)
            if not force and not is_stale(node, current, input_hash(text)):
                continue
            request = ChatRequest(
                [user(text)],
                self.max_new_tokens,
                {"captions": P.subtree_captions(node, source), "node_id": node.id},
            )
            jobs.append(_Job(tree, node, source, request))
        return jobs

    def document(self, job: _Job, outcome: Outcome, now: datetime) -> dict[str, Any]:
        return outcome.document(
            self.model,
            prompt_hash=P.prompt_hash(),
            version=self.version,
            now=now,
            caption_source=job.source,
            input_hash=input_hash(job.request.messages[0].text()),
        )

    def write(
        self, jobs: list[_Job], outcomes: list[Outcome], results: dict[str, VideoAnnotations]
    ) -> None:
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
            r = results[job.tree.video_id]
            r.annotated += outcome.status == "ok"
            r.invalid += outcome.status == "invalid"
            r.errors += outcome.status == "error"
            r.usage["prompt_tokens"] += outcome.usage.prompt_tokens
            r.usage["completion_tokens"] += outcome.usage.completion_tokens
        if ops:
            self.db[NODES].bulk_write(ops, ordered=False)
        for r in results.values():
            if r.errors:
                r.error = f"{r.errors} nodes got no answer from the model"
            elif r.invalid:
                r.error = f"{r.invalid} nodes stayed invalid after repair (raw text kept)"

    def _mark(self, r: VideoAnnotations) -> None:
        from actionlens.store.mongo import VIDEOS

        self.db[VIDEOS].update_one(
            {"_id": r.video_id},
            {
                "$set": {
                    f"stages.{STAGE}": {
                        "state": "failed" if r.status == "failed" else "done",
                        "source": SOURCE,
                        "model_id": self.model.model_id,
                        "baseline": self.model.baseline,
                        "version": self.version,
                        "segmenter": r.segmenter,
                        "eligible": r.eligible,
                        "annotated": r.annotated,
                        "invalid": r.invalid,
                        "errors": r.errors,
                        "error": r.error,
                        "usage": r.usage,
                        "at": datetime.now(UTC),
                    }
                }
            },
        )


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


def merge_aggregate_reports(reports: list[dict | None]) -> dict[str, Any]:
    """Fold aggregate batch results (XComs; None for a batch that died) into ids and counts."""
    return fold_reports(reports, "annotated")
