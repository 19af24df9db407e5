"""A video's stored tree as linked nodes, for the stages that read it (captions,
aggregation, opinions): which tree to use, depth-first order, subtrees, caption texts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actionlens.errors import InputError

if TYPE_CHECKING:
    from pymongo.database import Database

# Action100M's released caption sources: segment captions and leaf middle-frame captions.
REFERENCE_VIDEO_SOURCE = "plm"
REFERENCE_FRAME_SOURCE = "llama3"


@dataclass(eq=False)
class TreeNode:
    id: str
    parent_id: str | None
    level: int
    start: float
    end: float
    doc: dict[str, Any]
    children: list[TreeNode] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2

    def depth_first(self) -> Iterator[TreeNode]:
        yield self
        for child in self.children:
            yield from child.depth_first()


@dataclass
class Tree:
    video_id: str
    segmenter: str
    root: TreeNode
    by_id: dict[str, TreeNode]

    def depth_first(self) -> Iterator[TreeNode]:
        return self.root.depth_first()

    def __len__(self) -> int:
        return len(self.by_id)


def build_tree(video_id: str, segmenter: str, docs: list[dict[str, Any]]) -> Tree:
    """Link node documents by parent id; children in time order."""
    by_id = {
        d["_id"]: TreeNode(
            d["_id"], d.get("parent_id"), int(d["level"]), float(d["start"]), float(d["end"]), d
        )
        for d in docs
    }
    roots = []
    for node in by_id.values():
        parent = by_id.get(node.parent_id) if node.parent_id else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    if len(roots) != 1:
        raise InputError(f"[{video_id}] tree {segmenter!r} has {len(roots)} roots, expected 1")
    for node in by_id.values():
        node.children.sort(key=lambda n: n.start)
    return Tree(video_id, segmenter, roots[0], by_id)


# A node (or score row) is current unless its tree was superseded by a newer version of
# the same segmenter source (imported nodes and older rows carry no flag).
CURRENT = {"current": {"$ne": False}}


def choose_segmenter(db: Database, video_id: str, segmenter: str | None = None) -> str:
    """The tree to work on: the one asked for, else the ledger's current segment version,
    else the only tree the video has."""
    from actionlens.store.mongo import NODES, VIDEOS

    if segmenter:
        return segmenter
    video = db[VIDEOS].find_one({"_id": video_id}, {"stages.segment": 1}) or {}
    stage = (video.get("stages") or {}).get("segment") or {}
    if stage.get("state") == "done" and stage.get("version"):
        return stage["version"]
    found = db[NODES].distinct("segmenter", {"video_id": video_id, **CURRENT})
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"[{video_id}] has no tree in `nodes`: run `segment` first")
    raise InputError(f"[{video_id}] has trees {sorted(found)}: pass --segmenter to choose one")


def load_tree(db: Database, video_id: str, segmenter: str | None = None) -> Tree:
    from actionlens.store.mongo import NODES

    chosen = choose_segmenter(db, video_id, segmenter)
    docs = list(db[NODES].find({"video_id": video_id, "segmenter": chosen}))
    if not docs:
        raise InputError(f"[{video_id}] has no nodes for segmenter {chosen!r}")
    return build_tree(video_id, chosen, docs)


def caption_texts(node: TreeNode, source: str) -> tuple[str | None, str | None]:
    """(segment caption, middle-frame caption) of `source` on a node.

    Our captioners store `{video: {text}, frame: {text}}`; imported Action100M trees
    keep plain strings under `plm` (segments) and `llama3` (leaf frames).
    """
    captions = node.doc.get("captions") or {}
    entry = captions.get(source)
    if isinstance(entry, dict):
        video = (entry.get("video") or {}).get("text")
        frame = (entry.get("frame") or {}).get("text")
        return video or None, frame or None
    if entry is None and source == REFERENCE_VIDEO_SOURCE:
        return captions.get(REFERENCE_VIDEO_SOURCE), captions.get(REFERENCE_FRAME_SOURCE)
    return (entry or None) if isinstance(entry, str) else None, None


def is_annotated(doc: dict[str, Any], opinion_sources: set[str]) -> bool:
    """Has an annotation from anyone but the opinion models."""
    return any(k not in opinion_sources for k in (doc.get("annotations") or {}))


def annotated_video_ids(db, opinion_sources: set[str]) -> list[str]:
    """Every video with at least one annotated node ("all annotated" in manual runs)."""
    from actionlens.store.mongo import NODES

    ids = set()
    for doc in db[NODES].find(
        {"annotations": {"$exists": True, "$ne": {}}}, {"video_id": 1, "annotations": 1}
    ):
        if is_annotated(doc, opinion_sources):
            ids.add(doc["video_id"])
    return sorted(ids)
