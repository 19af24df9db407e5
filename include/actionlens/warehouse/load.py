"""MongoDB → raw warehouse tables, replaced per video in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from actionlens.annotations import usable
from actionlens.settings import Settings
from actionlens.store.mongo import SCORES, TEMPORAL_SCORES
from actionlens.warehouse.backends import Warehouse, open_warehouse
from actionlens.warehouse.tables import LOADED_TABLES, NEIGHBOUR_TABLE, TABLES

log = logging.getLogger(__name__)


def _row(table: str, values: dict) -> tuple:
    return tuple(values.get(c) for c in TABLES[table])


def video_row(doc: dict, now: datetime) -> tuple:
    meta = doc.get("metadata") or {}
    source = doc.get("source") or {}
    clip = doc.get("clip") or {}
    return _row(
        "raw_videos",
        {
            "video_id": doc["_id"],
            "title": meta.get("title"),
            "description": meta.get("description"),
            "duration_seconds": meta.get("duration"),
            "upload_date": meta.get("upload_date"),
            "view_count": meta.get("view_count"),
            "like_count": meta.get("like_count"),
            "category_1": source.get("category_1"),
            "category_2": source.get("category_2"),
            "task_id": source.get("task_id"),
            "task_name": doc.get("task_name"),
            "state": doc.get("state"),
            "clip_uri": clip.get("uri"),
            "clip_duration_seconds": clip.get("duration"),
            "fps": clip.get("fps"),
            "created_at": doc.get("created_at"),
            "updated_at": doc.get("updated_at"),
            "loaded_at": now,
        },
    )


def node_row(doc: dict, now: datetime) -> tuple:
    return _row(
        "raw_nodes",
        {
            "node_id": doc["_id"],
            "video_id": doc.get("video_id"),
            "segmenter": doc.get("segmenter"),
            "parent_id": doc.get("parent_id"),
            "level": doc.get("level"),
            "start_seconds": doc.get("start"),
            "end_seconds": doc.get("end"),
            "annotation_sources": ",".join(
                sorted(k for k, v in (doc.get("annotations") or {}).items() if usable(v))
            ),
            "caption_sources": ",".join(
                sorted(k for k, v in (doc.get("captions") or {}).items() if v)
            ),
            "loaded_at": now,
            "is_current": doc.get("current") is not False,
        },
    )


def lens_row(doc: dict, now: datetime) -> tuple:
    category = doc.get("category") or {}
    return _row(
        "raw_video_lenses",
        {
            "video_id": doc.get("video_id"),
            "lens": doc.get("lens"),
            "backend": doc.get("backend"),
            "model_id": doc.get("model_id"),
            "baseline": doc.get("baseline"),
            "lens_version": doc.get("version"),
            "status": doc.get("status"),
            "dim": doc.get("dim"),
            "category": category.get("label"),
            "category_score": category.get("score"),
            "updated_at": doc.get("updated_at"),
            "loaded_at": now,
        },
    )


def score_row(table: str, doc: dict, now: datetime, current: bool = True) -> tuple:
    return _row(table, {**doc, "loaded_at": now, "is_current": current})


def current_trees(nodes: list[dict]) -> tuple[set[str], set[tuple[str, str]]]:
    """The current nodes' ids and (video, segmenter) trees: a score row counts when what it
    scored is current, whatever flag the row itself carries (the nodes are the truth)."""
    live = [n for n in nodes if n.get("current") is not False]
    return {n["_id"] for n in live}, {(n.get("video_id"), n.get("segmenter")) for n in live}


def load_videos(
    settings: Settings, video_ids: Sequence[str] | None = None, warehouse: Warehouse | None = None
) -> dict:
    """Copy the videos' ledger, nodes and scores into the raw tables (all videos when None)."""
    from actionlens.store.mongo import LENSES, NODES, VIDEOS, connect

    db = connect(settings)
    if video_ids is None:
        video_ids = sorted(set(db[VIDEOS].distinct("_id")) | set(db[NODES].distinct("video_id")))
    own = warehouse is None
    wh = warehouse or open_warehouse(settings)
    totals = dict.fromkeys(LOADED_TABLES, 0) | {"videos": 0, "warehouse": settings.warehouse}
    try:
        wh.ensure_tables()
        step = settings.agreement.videos_per_batch
        for start in range(0, len(video_ids), step):
            batch = list(video_ids[start : start + step])
            now = datetime.now(UTC)
            sel = {"video_id": {"$in": batch}}
            nodes = list(db[NODES].find(sel))
            live_nodes, live_trees = current_trees(nodes)

            def temporal(d: dict, now=now, live=live_trees) -> tuple:
                vid = d.get("video_id")
                both = {(vid, d.get("segmenter_a")), (vid, d.get("segmenter_b"))} <= live
                return score_row("raw_temporal_scores", d, now, both)

            rows = {
                "raw_videos": [video_row(d, now) for d in db[VIDEOS].find({"_id": {"$in": batch}})],
                "raw_nodes": [node_row(d, now) for d in nodes],
                "raw_node_scores": [
                    score_row("raw_node_scores", d, now, d.get("node_id") in live_nodes)
                    for d in db[SCORES].find(sel)
                ],
                "raw_temporal_scores": [temporal(d) for d in db[TEMPORAL_SCORES].find(sel)],
                "raw_video_lenses": [lens_row(d, now) for d in db[LENSES].find(sel, {"vector": 0})],
            }
            wh.replace(batch, rows)
            totals["videos"] += len(batch)
            for table, data in rows.items():
                totals[table] += len(data)
            log.info("loaded %d videos into %s", totals["videos"], settings.warehouse)
    finally:
        if own:
            wh.close()
    return totals


def neighbour_rows(doc: dict, now: datetime) -> list[tuple]:
    return [
        _row(
            NEIGHBOUR_TABLE,
            {
                "video_id": doc.get("video_id"),
                "lens": doc.get("lens"),
                "model_id": doc.get("model_id"),
                "k": doc.get("k"),
                "neighbour_rank": n.get("rank"),
                "neighbour_video_id": n.get("video_id"),
                "score": n.get("score"),
                "updated_at": doc.get("updated_at"),
                "loaded_at": now,
            },
        )
        for n in doc.get("neighbours") or []
    ]


def load_neighbours(settings: Settings, warehouse: Warehouse | None = None) -> dict:
    """Replace the warehouse's neighbour lists with MongoDB's, whole: a new video changes
    other videos' lists, so a per-video load would leave stale rows behind."""
    from actionlens.store.mongo import NEIGHBOURS, connect

    db = connect(settings)
    now = datetime.now(UTC)
    rows = [r for doc in db[NEIGHBOURS].find() for r in neighbour_rows(doc, now)]
    own = warehouse is None
    wh = warehouse or open_warehouse(settings)
    try:
        wh.ensure_tables()
        wh.replace_all(NEIGHBOUR_TABLE, rows)
    finally:
        if own:
            wh.close()
    log.info("loaded %d neighbour rows into %s", len(rows), settings.warehouse)
    return {NEIGHBOUR_TABLE: len(rows), "warehouse": settings.warehouse}
