"""The Ward tree: known change points, released-tree invariants on random inputs, ids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionlens.segment.tree import boundaries, build_tree, node_id, ward_chain

VID = "abcdefghijk"
SEG = "test-segmenter-v1"


def _piecewise(
    change_points: list[int], n: int, dim: int, seed: int, noise: float = 0.05
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty((n, dim))
    edges = [0, *change_points, n]
    for a, b in zip(edges, edges[1:], strict=False):
        x[a:b] = rng.normal(size=dim)
    return x + rng.normal(scale=noise, size=x.shape)


def _check_invariants(tree, times, duration, min_leaf=0.5):
    """Every invariant of a released Action100M tree, asserted one by one."""
    by_id = {n.node_id: n for n in tree}
    assert len(by_id) == len(tree), "node ids are unique"
    root = tree[0]
    assert root.parent_id is None and root.level == 0
    assert root.start == 0.0 and root.end == pytest.approx(duration)
    assert [n for n in tree if n.parent_id is None] == [root]
    assert [(n.level, n.start) for n in tree] == sorted((n.level, n.start) for n in tree), (
        "BFS order"
    )
    cuts = set(boundaries(times, duration).tolist())
    for n in tree:
        assert n.start in cuts and n.end in cuts, "boundaries sit at frame midpoints"
        assert n.end > n.start
        if n.parent_id is not None:
            assert by_id[n.parent_id].level == n.level - 1
        if n.children:
            assert len(n.children) == 2, "full binary"
            left, right = (by_id[c] for c in n.children)
            assert left.parent_id == right.parent_id == n.node_id
            assert (left.start, left.end, right.end) == (n.start, right.start, n.end), (
                "children tile the parent"
            )
            assert left.end - left.start >= min_leaf and right.end - right.start >= min_leaf
        elif len(tree) > 1:
            assert n.end - n.start >= min_leaf, "leaves last at least 0.5 s"


def test_change_points_are_found_within_one_sampled_frame():
    n, step = 400, 4 / 29.97
    changes = [37, 90, 181, 260, 333]
    times = np.arange(n) * step
    duration = n * step
    tree = build_tree(
        _piecewise(changes, n, 16, seed=3), times, duration, video_id=VID, segmenter=SEG
    )
    found = {n.start for n in tree} | {n.end for n in tree}
    cuts = boundaries(times, duration)
    for c in changes:
        assert min(abs(f - cuts[c]) for f in found) <= step + 1e-9, f"no boundary near frame {c}"


def test_top_split_is_the_strongest_change():
    n = 200
    x = np.zeros((n, 2))
    x[120:] = 10.0  # one big change...
    x[50:120, 1] = 1.0  # ...and a small one
    times = np.arange(n) * 0.1
    tree = build_tree(x, times, 20.0, video_id=VID, segmenter=SEG)
    left, right = (n for n in tree if n.level == 1)
    assert left.end == right.start == pytest.approx((times[119] + times[120]) / 2)


def test_merges_equal_sklearn_ward_tree_with_chain_connectivity():
    from scipy.sparse import diags
    from sklearn.cluster import ward_tree

    n = 120
    x = np.random.default_rng(0).normal(size=(n, 6))
    conn = diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1])
    children, *_ = ward_tree(x, connectivity=conn)
    ours = ward_chain(x)

    def spans(merges):
        span = {i: (i, i + 1) for i in range(n)}
        for i, (a, b) in enumerate(merges):
            span[n + i] = (min(span[a][0], span[b][0]), max(span[a][1], span[b][1]))
        return [span[n + i] for i in range(n - 1)]

    assert spans(ours.children) == spans(children)


def test_clip_under_half_a_second_is_a_single_root_leaf():
    times = np.arange(3) * 0.1333
    tree = build_tree(
        np.random.default_rng(1).normal(size=(3, 4)), times, 0.3, video_id=VID, segmenter=SEG
    )
    assert len(tree) == 1
    assert (tree[0].start, tree[0].end, tree[0].level, tree[0].parent_id) == (0.0, 0.3, 0, None)


def test_single_frame_is_a_root_leaf():
    tree = build_tree(np.ones((1, 3)), [0.0], 0.04, video_id=VID, segmenter=SEG)
    assert [(n.start, n.end, n.children) for n in tree] == [(0.0, 0.04, ())]


def test_node_ids_depend_on_video_segmenter_and_span():
    assert node_id(VID, SEG, 0, 10) == node_id(VID, SEG, 0, 10)
    assert (
        len(
            {
                node_id(VID, SEG, 0, 10),
                node_id(VID, "other", 0, 10),
                node_id("bcdefghijkl", SEG, 0, 10),
                node_id(VID, SEG, 0, 11),
            }
        )
        == 4
    )


def test_times_that_do_not_increase_are_rejected_with_the_video_id():
    with pytest.raises(ValueError, match=VID):
        build_tree(np.ones((3, 2)), [0.0, 0.5, 0.2], 1.0, video_id=VID, segmenter=SEG)


@st.composite
def clips(draw):
    n = draw(st.integers(1, 160))
    dim = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Frame gaps as in real clips (60 fps every 4th to VFR hiccups), vectors with repeats.
    gaps = rng.choice([4 / 60, 4 / 30, 4 / 29.97, 4 / 25, 4 / 23.976, 0.05, 0.4], size=n)
    times = np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    duration = float(times[-1] + gaps[-1])
    levels = draw(st.sampled_from([None, 3]))
    x = rng.normal(size=(n, dim))
    if levels:
        x = np.round(x * levels) / levels  # ties between merge costs
    return x, times, duration


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clips())
def test_released_tree_invariants_hold_on_random_inputs(clip):
    x, times, duration = clip
    tree = build_tree(x, times, duration, video_id=VID, segmenter=SEG)
    _check_invariants(tree, times, duration)
    again = build_tree(x.copy(), times.copy(), duration, video_id=VID, segmenter=SEG)
    assert [n.node_id for n in again] == [n.node_id for n in tree], "deterministic ids"


@settings(max_examples=50, deadline=None)
@given(clips(), st.sampled_from([0.25, 1.0, 2.0]))
def test_min_leaf_seconds_is_respected(clip, min_leaf):
    x, times, duration = clip
    tree = build_tree(x, times, duration, video_id=VID, segmenter=SEG, min_leaf_seconds=min_leaf)
    _check_invariants(tree, times, duration, min_leaf=min_leaf)
