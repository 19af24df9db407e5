"""The tree in MongoDB `nodes`, the segment stage on the ledger, and the Action100M export.

A tree is addressed by (video_id, segmenter version). Writing one replaces that tree:
nodes it no longer has are deleted, the rest upserted on their deterministic ids, so a
rerun converges and never duplicates; fields later stages add to a surviving node
(captions, annotations) are kept.

One tree per video and segmenter source is current: the tree this stage wrote last is
`current: true`; a tree of ours built by another version (a segmenter setting changed) is
superseded (`current: false`, `superseded_at`, `superseded_by`) and kept for audit with
its captions, annotations and scores, never counted (the scorer, the warehouse load and
dbt staging read current trees only). Imported trees (no `frames`) are another source and
stay beside ours untouched: the reference's segmentation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from actionlens.segment.tree import Node
from actionlens.tree import CURRENT

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

STAGE = "segment"
TREE_INDEX = "tree_level_start_unique"


def ensure_node_indexes(nodes: Collection) -> None:
    """In a tree no two nodes share a level and start: enforce it per tree.

    Only on trees this stage built (they carry `frames`); imported trees are checked
    by their importer and must not be rejected here.
    """
    from pymongo import ASCENDING

    nodes.create_index(
        [
            ("video_id", ASCENDING),
            ("segmenter", ASCENDING),
            ("level", ASCENDING),
            ("start", ASCENDING),
        ],
        unique=True,
        name=TREE_INDEX,
        partialFilterExpression={"frames": {"$exists": True}},
    )


def node_document(
    node: Node, video_id: str, segmenter: str, index: int, now: datetime
) -> dict[str, Any]:
    """The structural fields of one node as stored (later stages add their own)."""
    return {
        "video_id": video_id,
        "segmenter": segmenter,
        "parent_id": node.parent_id,
        "level": node.level,
        "start": node.start,
        "end": node.end,
        "order": index,  # breadth-first position, (level, start)
        "children": list(node.children),
        "leaf": node.is_leaf,
        "frames": [node.lo, node.hi],
        "current": True,
        "updated_at": now,
    }


def replace_tree(
    nodes: Collection, video_id: str, segmenter: str, tree: list[Node]
) -> dict[str, int]:
    """Make the stored tree of (video_id, segmenter) exactly `tree`."""
    from pymongo import UpdateOne

    now = datetime.now(UTC)
    ids = [n.node_id for n in tree]
    # Stale nodes go first: one of them may hold a (level, start) a new node takes.
    removed = nodes.delete_many(
        {"video_id": video_id, "segmenter": segmenter, "_id": {"$nin": ids}}
    ).deleted_count
    ops = [
        UpdateOne(
            {"_id": n.node_id},
            {
                "$set": node_document(n, video_id, segmenter, i, now),
                "$setOnInsert": {"created_at": now},
                "$unset": {"superseded_at": "", "superseded_by": ""},
            },
            upsert=True,
        )
        for i, n in enumerate(tree)
    ]
    result = nodes.bulk_write(ops, ordered=False)
    return {"nodes": len(tree), "inserted": result.upserted_count, "removed": removed}


def supersede_others(db: Database, video_id: str, segmenter: str) -> list[str]:
    """Flag the video's other trees of ours (built by another segmenter version) and their
    score rows superseded by `segmenter`; returns those versions. Nothing is deleted."""
    from actionlens.store.mongo import NODES, SCORES, TEMPORAL_SCORES

    now = datetime.now(UTC)
    own = {"video_id": video_id, "frames": {"$exists": True}, "segmenter": {"$ne": segmenter}}
    old = sorted(db[NODES].distinct("segmenter", {**own, **CURRENT}))
    if not old:
        return []
    flag = {"$set": {"current": False, "superseded_at": now, "superseded_by": segmenter}}
    db[NODES].update_many({**own, "segmenter": {"$in": old}, **CURRENT}, flag)
    db[SCORES].update_many({"video_id": video_id, "segmenter": {"$in": old}}, flag)
    db[TEMPORAL_SCORES].update_many(
        {
            "video_id": video_id,
            "$or": [{"segmenter_a": {"$in": old}}, {"segmenter_b": {"$in": old}}],
        },
        flag,
    )
    return old


def pending_ids(videos: Collection, *, limit: int, max_attempts: int) -> list[str]:
    """Stored videos that have no segment stage yet, or a retryable failure left."""
    query = {
        "state": "stored",
        "$or": [
            {f"stages.{STAGE}": {"$exists": False}},
            {
                f"stages.{STAGE}.state": "failed",
                f"stages.{STAGE}.retryable": True,
                f"stages.{STAGE}.attempts": {"$lt": max_attempts},
            },
        ],
    }
    cursor = videos.find(query, {"_id": 1}).sort([("_id", 1)]).limit(limit)
    return [d["_id"] for d in cursor]


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def node_texts(doc: dict, captions: str, annotations: str) -> dict[str, Any]:
    """The Action100M text fields of one node document, null where absent.

    Imported Action100M trees keep plain strings (`captions.plm`, `captions.llama3`,
    `actions.plm`); our captioners keep `captions.<source>.{video,frame}.text`; stage 3
    keeps `annotations.<source>` with `summary` and `action`.
    """
    entry = _dig(doc, ("captions", captions))
    if isinstance(entry, dict):
        segment, frame = _dig(entry, ("video", "text")), _dig(entry, ("frame", "text"))
    else:
        segment = entry if isinstance(entry, str) else None
        frame = _dig(doc, ("captions", "llama3")) if captions == "plm" else None
    note = _dig(doc, ("annotations", annotations))
    gpt = None
    if isinstance(note, dict) and note.get("summary") and note.get("action"):
        gpt = {"summary": note["summary"], "action": note["action"]}
    return {
        "plm_action": _dig(doc, ("actions", captions)) if captions == "plm" else None,
        "plm_caption": segment or None,
        "llama3_caption": frame or None,
        "gpt": gpt,
    }


def export_tree(
    db: Database,
    video_id: str,
    segmenter: str | None = None,
    *,
    captions: str = "plm",
    annotations: str = "gpt",
) -> dict[str, Any]:
    """A video's tree as an Action100M record: {video_uid, segmenter, nodes: [...]}.

    `segmenter` defaults to the version on the video's segment stage; `captions` and
    `annotations` name the sources that fill the caption and `gpt` fields (e.g. our
    captioner's source and "ours"). Fields nobody has produced yet are null.
    """
    from actionlens.errors import InputError
    from actionlens.store.mongo import NODES, VIDEOS

    if segmenter is None:
        video = db[VIDEOS].find_one({"_id": video_id}, {f"stages.{STAGE}": 1}) or {}
        segmenter = _dig(video, ("stages", STAGE, "version"))
        if not segmenter:
            raise InputError(f"[{video_id}] has no segment stage: run `actionlens segment` first")
    cursor = (
        db[NODES]
        .find({"video_id": video_id, "segmenter": segmenter})
        .sort([("level", 1), ("start", 1)])
    )
    nodes = []
    for doc in cursor:
        row = {
            "node_id": doc["_id"],
            "parent_id": doc.get("parent_id"),
            "level": int(doc["level"]),
            "start": float(doc["start"]),
            "end": float(doc["end"]),
        }
        row.update(node_texts(doc, captions, annotations))
        nodes.append(row)
    if not nodes:
        raise InputError(f"[{video_id}] has no nodes for segmenter {segmenter!r}")
    return {"video_uid": video_id, "segmenter": segmenter, "nodes": nodes}
