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
from actionlens.records import validate_video_id
from actionlens.settings import Settings
from actionlens.store.mongo import SCORES, TEMPORAL_SCORES

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
    keep: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        keep[d["video_id"]].append(d["_id"])
    for vid in video_ids:
        collection.delete_many({"video_id": vid, "_id": {"$nin": keep.get(vid, [])}})


def make_embedder(settings: Settings):
    from actionlens.agreement.semantic import Embedder

    cfg = settings.agreement
    return Embedder(
        path=cfg.embedding_model,
        device=cfg.device,
        backend=cfg.embedding_backend,
        cache_dir=settings.home / "cache" / "onnx",
        threads=cfg.embedding_threads,
        batch_size=cfg.embedding_batch_size,
    )


def score_videos(settings: Settings, video_ids: Sequence[str] | None = None, embedder=None) -> dict:
    """Score the given videos (all with nodes when None) and replace their rows."""
    from actionlens.store.mongo import NODES, VIDEOS, connect

    db = connect(settings)
    cfg = settings.agreement
    if video_ids is None:
        video_ids = sorted(db[NODES].distinct("video_id"))
    ids = [validate_video_id(v) for v in video_ids]
    embedder = embedder or make_embedder(settings)
    version = f"{SCORER_VERSION}/{embedder.name}"
    totals = {"videos": 0, "node_rows": 0, "temporal_rows": 0, "scorer_version": version}
    db[SCORES].create_index("video_id")
    db[TEMPORAL_SCORES].create_index("video_id")
    for start in range(0, len(ids), cfg.videos_per_batch):
        batch = ids[start : start + cfg.videos_per_batch]
        nodes = list(db[NODES].find({"video_id": {"$in": batch}}))
        items = pairs_for_nodes(nodes, cfg.pairs)
        lexical, semantic = score_pairs(items, embedder)
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
                "scorer_version": version,
                "scored_at": now,
            }
            for p, lex, sem in zip(items, lexical, semantic, strict=True)
        ]
        per_video: dict[str, list[dict]] = defaultdict(list)
        for n in nodes:
            per_video[n["video_id"]].append(n)
        temporal = [
            {**row, "scorer_version": version, "scored_at": now}
            for vid in batch
            for row in temporal_rows(vid, per_video.get(vid, []), cfg.boundary_tolerance_seconds)
        ]
        _replace(db[SCORES], batch, docs)
        _replace(db[TEMPORAL_SCORES], batch, temporal)
        db[VIDEOS].update_many(
            {"_id": {"$in": batch}},
            {"$set": {"agreement": {"scorer_version": version, "scored_at": now}}},
        )
        totals["videos"] += len(batch)
        totals["node_rows"] += len(docs)
        totals["temporal_rows"] += len(temporal)
        log.info("scored %d videos (%d node rows)", totals["videos"], totals["node_rows"])
    totals["texts_embedded"] = embedder.encoded
    return totals
