"""Ward clustering of frame vectors under a chain constraint, and the released tree shape.

Only temporal neighbours may merge, so every cluster is a contiguous run of sampled
frames and the dendrogram is a hierarchy of time spans. `ward_chain` finds it in
O(n log n) with a heap over adjacent pairs (sklearn's connectivity-constrained
`ward_tree` builds the same merges but is far slower on long videos).
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Namespace of node ids: uuid5(NODE_NAMESPACE, "<video>/<segmenter>/<lo>:<hi>").
NODE_NAMESPACE = uuid.UUID("6f1f3c1e-6d5a-5b0e-9a7e-41c710d5e9a1")


@dataclass(frozen=True)
class Dendrogram:
    """Merges in scipy's convention: leaves are 0..n-1, merge i creates node n+i.

    `children[i]` are the two nodes merged at step i (left in time first); `span[k]`
    is the half-open range of sampled frames node k covers.
    """

    n: int
    children: np.ndarray  # (n-1, 2) int64
    cost: np.ndarray  # (n-1,) Ward increase in within-cluster sum of squares
    span: np.ndarray  # (2n-1, 2) int64, [lo, hi)

    @property
    def root(self) -> int:
        return 2 * self.n - 2


def ward_chain(x: np.ndarray) -> Dendrogram:
    """Full Ward dendrogram of `x` (n, d) where only adjacent clusters may merge.

    Merging a and b costs n_a·n_b/(n_a+n_b)·‖mean_a − mean_b‖², the rise in total
    within-cluster variance; the cheapest adjacent pair merges first (ties: earliest).
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"frame vectors must be a non-empty (n, d) array, got shape {x.shape}")
    n = len(x)
    span = np.zeros((2 * n - 1, 2), dtype=np.int64)
    span[:n, 0] = np.arange(n)
    span[:n, 1] = np.arange(1, n + 1)
    children = np.zeros((max(n - 1, 0), 2), dtype=np.int64)
    costs = np.zeros(max(n - 1, 0))
    if n == 1:
        return Dendrogram(1, children, costs, span)

    # A cluster lives at the position of its first frame: mean, size, neighbours, node id.
    # Embedder output (float32) stays float32: half the memory traffic on long videos.
    means = x.copy()
    size = [1.0] * n
    node = list(range(n))
    right = list(range(1, n + 1))  # right[i] == n: no right neighbour
    left = list(range(-1, n - 1))
    version = [0] * n  # bumped on every merge so stale heap entries are skipped
    alive = [True] * n

    gaps = np.empty(n - 1)
    for lo in range(0, n - 1, 4096):  # in chunks: no (n, d) temporaries
        hi = min(n - 1, lo + 4096)
        d = means[lo + 1 : hi + 1] - means[lo:hi]
        gaps[lo:hi] = 0.5 * np.einsum("ij,ij->i", d, d)
    heap = [(c, i, i + 1, 0, 0) for i, c in enumerate(gaps.tolist())]
    heapq.heapify(heap)
    buf = np.empty(means.shape[1], dtype=means.dtype)

    def pair_cost(a: int, b: int) -> float:
        np.subtract(means[a], means[b], out=buf)
        return size[a] * size[b] / (size[a] + size[b]) * float(buf.dot(buf))

    for step in range(n - 1):
        while True:
            c, a, b, va, vb = heapq.heappop(heap)
            if alive[a] and alive[b] and version[a] == va and version[b] == vb:
                break
        new = n + step
        children[step] = (node[a], node[b])
        costs[step] = c
        span[new] = (span[node[a], 0], span[node[b], 1])
        # Fold b into a: mean_a += (mean_b - mean_a) · n_b / (n_a + n_b), in place.
        total = size[a] + size[b]
        mean_a = means[a]
        np.subtract(means[b], mean_a, out=buf)
        buf *= size[b] / total
        mean_a += buf
        size[a] = total
        alive[b] = False
        version[a] += 1
        node[a] = new
        nb = right[b]
        right[a] = nb
        if nb < n:
            left[nb] = a
            heapq.heappush(heap, (pair_cost(a, nb), a, nb, version[a], version[nb]))
        pa = left[a]
        if pa >= 0:
            heapq.heappush(heap, (pair_cost(pa, a), pa, a, version[pa], version[a]))
    return Dendrogram(n, children, costs, span)


def boundaries(times: Sequence[float], duration: float) -> np.ndarray:
    """Cut points b[0..n]: b[0] = 0, b[n] = duration, b[k] midway between frames k−1 and k."""
    t = np.asarray(times, dtype=np.float64)
    b = np.empty(len(t) + 1)
    b[0] = 0.0
    b[1:-1] = (t[:-1] + t[1:]) / 2.0
    b[-1] = duration
    return b


@dataclass(frozen=True)
class Node:
    """One segment of the released tree."""

    node_id: str
    parent_id: str | None
    level: int
    start: float
    end: float
    lo: int  # first sampled frame
    hi: int  # one past the last sampled frame
    children: tuple[str, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children


def node_id(video_id: str, segmenter: str, lo: int, hi: int) -> str:
    """Deterministic: the same clip, segmenter version and span give the same id."""
    return str(uuid.uuid5(NODE_NAMESPACE, f"{video_id}/{segmenter}/{lo}:{hi}"))


def released_tree(
    dendrogram: Dendrogram,
    times: Sequence[float],
    duration: float,
    *,
    video_id: str,
    segmenter: str,
    min_leaf_seconds: float = 0.5,
) -> list[Node]:
    """The Action100M tree: from the root down, split a node into its two dendrogram
    children only if both last ≥ `min_leaf_seconds`; nodes listed by (level, start)."""
    n = dendrogram.n
    if len(times) != n:
        raise ValueError(f"[{video_id}] {len(times)} frame times for {n} frame vectors")
    if duration <= 0:
        raise ValueError(f"[{video_id}] clip duration must be positive, got {duration}")
    t = np.asarray(times, dtype=np.float64)
    if t[0] < 0 or np.any(np.diff(t) <= 0) or t[-1] >= duration:
        raise ValueError(
            f"[{video_id}] frame times must start at ≥ 0, strictly increase and end before "
            f"the duration {duration}"
        )
    cuts = boundaries(t, duration)

    def seconds(k: int) -> float:
        lo, hi = dendrogram.span[k]
        return float(cuts[hi] - cuts[lo])

    out: list[Node] = []
    # BFS over dendrogram nodes; within a level the queue stays in time order because
    # every node enqueues its left child before its right one.
    queue: deque[tuple[int, str | None, int]] = deque([(dendrogram.root, None, 0)])
    while queue:
        k, parent, level = queue.popleft()
        lo, hi = (int(v) for v in dendrogram.span[k])
        nid = node_id(video_id, segmenter, lo, hi)
        kids: tuple[str, ...] = ()
        if k >= n:
            a, b = (int(v) for v in dendrogram.children[k - n])
            if seconds(a) >= min_leaf_seconds and seconds(b) >= min_leaf_seconds:
                kids = tuple(
                    node_id(video_id, segmenter, *map(int, dendrogram.span[c])) for c in (a, b)
                )
                queue.append((a, nid, level + 1))
                queue.append((b, nid, level + 1))
        out.append(Node(nid, parent, level, float(cuts[lo]), float(cuts[hi]), lo, hi, kids))
    return out


def build_tree(
    vectors: np.ndarray,
    times: Sequence[float],
    duration: float,
    *,
    video_id: str,
    segmenter: str,
    min_leaf_seconds: float = 0.5,
) -> list[Node]:
    """Frame vectors and times in, the released tree (BFS order) out."""
    return released_tree(
        ward_chain(vectors),
        times,
        duration,
        video_id=video_id,
        segmenter=segmenter,
        min_leaf_seconds=min_leaf_seconds,
    )
