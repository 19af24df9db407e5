"""Score every configured pair of sources on every node and field, per video.

`pairs_for_nodes` and `score_pairs` are pure; `score_videos` reads `nodes` and writes the
raw rows to the MongoDB collections `scores` (node × field × pair) and `temporal_scores`
(video × pair of segmenters), from which the warehouse loader copies them. A rerun for a
video replaces its rows: upserts on deterministic ids, then its stale rows are deleted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations

from actionlens.agreement import SCORER_VERSION
from actionlens.agreement.lexical import lexical_batch
from actionlens.agreement.temporal import temporal_agreement
from actionlens.annotations import FIELDS, field_text, usable
from actionlens.runtime import Outcome, Result, VideoStage, merge_reports
from actionlens.settings import Settings
from actionlens.store.mongo import SCORES, TEMPORAL_SCORES
from actionlens.tree import CURRENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextPair:
    video_id: str
    node_id: str
    segmenter: str
    level: int
    field: str
    source_a: str
    source_b: str
    text_a: str
    text_b: str

    @property
    def row_id(self) -> str:
        return f"{self.node_id}|{self.field}|{self.source_a}|{self.source_b}"


def pairs_for_nodes(nodes: Iterable[dict], pairs: Sequence[tuple[str, str]]) -> list[TextPair]:
    """Every (node, field, pair) where both sources annotated the node."""
    out = []
    for node in nodes:
        annotations = node.get("annotations") or {}
        for a, b in pairs:
            ann_a, ann_b = annotations.get(a), annotations.get(b)
            if not usable(ann_a) or not usable(ann_b):
                continue
            for field in FIELDS:
                out.append(
                    TextPair(
                        node["video_id"],
                        node["_id"],
                        node.get("segmenter") or "",
                        int(node.get("level") or 0),
                        field,
                        a,
                        b,
                        field_text(ann_a, field),
                        field_text(ann_b, field),
                    )
                )
    return out


def score_pairs(items: Sequence[TextPair], embedder) -> tuple[list[float], list[float]]:
    """Lexical and semantic agreement of each text pair, in two vectorised passes."""
    a = [p.text_a for p in items]
    b = [p.text_b for p in items]
    return lexical_batch(a, b).tolist(), embedder.similarity(a, b).tolist()


def leaves_by_segmenter(nodes: Iterable[dict]) -> dict[str, list[tuple[float, float]]]:
    """Each segmentation of a video as its leaf segments."""
    by_seg: dict[str, list[dict]] = defaultdict(list)
    for n in nodes:
        if n.get("start") is not None and n.get("end") is not None:
            by_seg[n.get("segmenter") or ""].append(n)
    out = {}
    for seg, ns in by_seg.items():
        parents = {n.get("parent_id") for n in ns}
        out[seg] = sorted(
            (float(n["start"]), float(n["end"])) for n in ns if n["_id"] not in parents
        )
    return out


def temporal_rows(video_id: str, nodes: Sequence[dict], tolerance: float) -> list[dict]:
    leaves = leaves_by_segmenter(nodes)
    rows = []
    for seg_a, seg_b in combinations(sorted(leaves), 2):
        scores = temporal_agreement(leaves[seg_a], leaves[seg_b], tolerance)
        rows.append(
            {
                "_id": f"{video_id}|{seg_a}|{seg_b}",
                "video_id": video_id,
                "segmenter_a": seg_a,
                "segmenter_b": seg_b,
                "tolerance_seconds": tolerance,
                "segments_a": len(leaves[seg_a]),
                "segments_b": len(leaves[seg_b]),
                **scores,
            }
        )
    return rows


def _replace(collection, video_ids: Sequence[str], docs: list[dict]) -> None:
    from pymongo import ReplaceOne

    if docs:
        collection.bulk_write(
            [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False
        )
    # Row ids name their node (or video), so one query finds every stale row of the batch;
    # rows of superseded trees are kept for audit.
    keep = [d["_id"] for d in docs]
    collection.delete_many({"video_id": {"$in": list(video_ids)}, "_id": {"$nin": keep}, **CURRENT})


def make_language_detector(settings: Settings):
    from actionlens.agreement.language import Coverage, LanguageDetector

    cfg = settings.agreement
    return LanguageDetector(
        Coverage.of(cfg.embedding_languages, cfg.embedding_scripts, cfg.language_min_probability)
    )


def language_fields(items: Sequence[TextPair], detector) -> list[dict]:
    """Per pair: each text's language and script, and whether the model reads both."""
    rows = detector.pairs([p.text_a for p in items], [p.text_b for p in items])
    return [
        {
            "language_a": la.language,
            "language_b": lb.language,
            "script_a": la.script,
            "script_b": lb.script,
            "model_covers_pair": covered,
            "language_detector": detector.version,
        }
        for la, lb, covered in rows
    ]


def make_embedder(settings: Settings):
    from actionlens.agreement.semantic import Embedder
    from actionlens.agreement.workshop_model import resolve_embedding_model

    cfg = settings.agreement
    return Embedder(
        path=resolve_embedding_model(settings),
        device=cfg.device,
        backend=cfg.embedding_backend,
        cache_dir=settings.home / "cache" / "onnx",
        threads=cfg.embedding_threads,
        batch_size=cfg.embedding_batch_size,
    )


class Scorer(VideoStage):
    """Scores a batch of videos in one pass: each distinct text of the batch is embedded
    once, whatever the video it comes from. Rows replace the videos' earlier rows."""

    name = "agreement"
    ready_key = "scored"
    batched = True

    def __init__(self, settings: Settings, db, embedder):
        self.settings, self.db, self.embedder = settings, db, embedder
        self.cfg = settings.agreement
        self.version = f"{SCORER_VERSION}/{embedder.name}"
        self.detector = make_language_detector(settings)

    @property
    def ledger_key(self) -> None:
        return None  # the video's `agreement` field and the score rows are the record

    def prepare(self, video_id: str) -> None:
        return None  # every video is scored again: rows are cheap and replaced whole

    def process_batch(self, video_ids: list[str]) -> dict[str, Result]:
        from actionlens.store.mongo import NODES, VIDEOS

        db, cfg, version = self.db, self.cfg, self.version
        # Current trees only: a superseded tree keeps the rows it was scored with, for audit.
        nodes = list(db[NODES].find({"video_id": {"$in": video_ids}, **CURRENT}))
        items = pairs_for_nodes(nodes, cfg.pairs)
        lexical, semantic = score_pairs(items, self.embedder)
        languages = language_fields(items, self.detector)
        now = datetime.now(UTC)
        docs = [
            {
                "_id": p.row_id,
                "video_id": p.video_id,
                "node_id": p.node_id,
                "segmenter": p.segmenter,
                "level": p.level,
                "field": p.field,
                "source_a": p.source_a,
                "source_b": p.source_b,
                "lexical": lex,
                "semantic": sem,
                **lang,
                "scorer_version": version,
                "scored_at": now,
                "current": True,
            }
            for p, lex, sem, lang in zip(items, lexical, semantic, languages, strict=True)
        ]
        per_video: dict[str, list[dict]] = defaultdict(list)
        for n in nodes:
            per_video[n["video_id"]].append(n)
        temporal = [
            {**row, "scorer_version": version, "scored_at": now, "current": True}
            for vid in video_ids
            for row in temporal_rows(vid, per_video.get(vid, []), cfg.boundary_tolerance_seconds)
        ]
        _replace(db[SCORES], video_ids, docs)
        _replace(db[TEMPORAL_SCORES], video_ids, temporal)
        db[VIDEOS].update_many(
            {"_id": {"$in": video_ids}},
            {"$set": {"agreement": {"scorer_version": version, "scored_at": now}}},
        )
        rows = defaultdict(lambda: {"node_rows": 0, "temporal_rows": 0})
        for d in docs:
            rows[d["video_id"]]["node_rows"] += 1
        for t in temporal:
            rows[t["video_id"]]["temporal_rows"] += 1
        return {vid: Result(Outcome.DONE, facts=dict(rows[vid])) for vid in video_ids}


def score_videos(settings: Settings, video_ids: Sequence[str] | None = None, embedder=None) -> dict:
    """Score the given videos (all with nodes when None) and replace their rows, in
    batches of `agreement.videos_per_batch` (one embedding pass each)."""
    from actionlens.store.mongo import NODES, connect

    db = connect(settings)
    if video_ids is None:
        video_ids = sorted(db[NODES].distinct("video_id"))
    ids = list(video_ids)  # each id is validated by the runner
    scorer = Scorer(settings, db, embedder or make_embedder(settings))
    db[SCORES].create_index("video_id")
    db[TEMPORAL_SCORES].create_index("video_id")
    size = settings.agreement.videos_per_batch
    reports = [scorer.run_batch(ids[i : i + size]).as_dict() for i in range(0, len(ids), size)]
    merged = merge_reports(reports, Scorer.ready_key, sums=("node_rows", "temporal_rows"))
    log.info("scored %d videos (%d node rows)", len(ids), merged["counts"]["node_rows"])
    return {
        "videos": len(ids),
        "node_rows": merged["counts"]["node_rows"],
        "temporal_rows": merged["counts"]["temporal_rows"],
        "scorer_version": scorer.version,
        "texts_embedded": scorer.embedder.encoded,
        "texts_language_detected": scorer.detector.detected,
        "failed": merged["failed"],
    }
