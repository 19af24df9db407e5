"""Stage-1-shaped trees made up for tests, the demo and benchmarks: full binary trees
whose children tile their parent, stored as `nodes` documents like stage 1 writes them."""

from __future__ import annotations

import random
import uuid
from typing import Any

SEGMENTER = "synthetic-v1"


def node_id(video_id: str, segmenter: str, level: int, start: float) -> str:
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"actionlens:{video_id}:{segmenter}:{level}:{start:.4f}")
    )


def tree_docs(
    video_id: str,
    duration: float,
    *,
    min_leaf: float = 0.5,
    max_leaf: float = 4.0,
    seed: int = 0,
    segmenter: str = SEGMENTER,
) -> list[dict[str, Any]]:
    """A random full binary tree over [0, duration]: a span splits at a random point while
    it is longer than `max_leaf` and both halves last ≥ `min_leaf`. Breadth-first order."""
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    frontier = [(None, 0, 0.0, float(duration))]
    while frontier:
        nxt = []
        for parent, level, start, end in sorted(frontier, key=lambda f: f[2]):
            nid = node_id(video_id, segmenter, level, start)
            span = end - start
            split = span > max_leaf and span >= 2 * min_leaf
            docs.append(
                {
                    "_id": nid,
                    "video_id": video_id,
                    "segmenter": segmenter,
                    "parent_id": parent,
                    "level": level,
                    "start": round(start, 4),
                    "end": round(end, 4),
                    "leaf": not split,
                }
            )
            if split:
                cut = round(start + span * rng.uniform(0.3, 0.7), 4)
                nxt += [(nid, level + 1, start, cut), (nid, level + 1, cut, end)]
        frontier = nxt
    return docs


def small_tree(video_id: str, segmenter: str = SEGMENTER) -> list[dict[str, Any]]:
    """root [0, 12] → [0, 5] (leaf), [5, 12] → [5, 8] → ([5, 6.5], [6.5, 8]), [8, 12] (leaf)."""
    spans = [
        (None, 0, 0.0, 12.0),
        (0, 1, 0.0, 5.0),
        (0, 1, 5.0, 12.0),
        (2, 2, 5.0, 8.0),
        (2, 2, 8.0, 12.0),
        (3, 3, 5.0, 6.5),
        (3, 3, 6.5, 8.0),
    ]
    ids = [node_id(video_id, segmenter, level, start) for _, level, start, _ in spans]
    parents = {i: p for i, (p, *_rest) in enumerate(spans)}
    children = {i for p in parents.values() if p is not None for i in [p]}
    return [
        {
            "_id": ids[i],
            "video_id": video_id,
            "segmenter": segmenter,
            "parent_id": None if p is None else ids[p],
            "level": level,
            "start": start,
            "end": end,
            "leaf": i not in children,
        }
        for i, (p, level, start, end) in enumerate(spans)
    ]
