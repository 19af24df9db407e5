"""Pure vector arithmetic of the lenses: normalisation, zero-shot categories, exact
top-k neighbours in blocks, and cross-lens neighbour overlap. No stores, no models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def zero_shot(videos: np.ndarray, labels: Sequence[str], label_vectors: np.ndarray) -> list[dict]:
    """The best label per video by cosine, with its score and every label's score."""
    if len(labels) != len(label_vectors):
        raise ValueError(f"{len(labels)} labels but {len(label_vectors)} label vectors")
    scores = normalize(videos) @ normalize(label_vectors).T
    best = scores.argmax(axis=1)
    return [
        {
            "label": labels[b],
            "score": round(float(row[b]), 6),
            "scores": {lab: round(float(s), 6) for lab, s in zip(labels, row, strict=True)},
        }
        for b, row in zip(best, scores, strict=True)
    ]


def top_k(
    vectors: np.ndarray, k: int, *, block: int = 2048, max_elements: int = 1 << 25
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine of every row among the others.

    Rows are compared a block at a time (one matrix product per block); a block has at
    most `block` rows and `max_elements` scores, so memory stays bounded however many
    videos there are. Returns (indices, scores), each (n, min(k, n-1)), best first."""
    x = normalize(vectors)
    n = len(x)
    k = min(k, max(n - 1, 0))
    idx = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    if k == 0:
        return idx, sims
    rows = max(1, min(block, max_elements // max(n, 1)))
    xt = np.ascontiguousarray(x.T)
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        s = x[lo:hi] @ xt
        s[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # never one's own neighbour
        part = np.argpartition(s, n - k, axis=1)[:, n - k :]  # the k largest, unordered
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[lo:hi] = np.take_along_axis(part, order, axis=1)
        sims[lo:hi] = np.take_along_axis(ps, order, axis=1)
    return idx, sims


def shared_neighbours(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, int]:
    """For every video in both maps: how many of its neighbours the two lenses share."""
    return {vid: len(set(a[vid]) & set(b[vid])) for vid in a.keys() & b.keys()}
