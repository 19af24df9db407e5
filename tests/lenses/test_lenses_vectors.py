"""Lens arithmetic on constructed vectors with known answers: normalisation, zero-shot
categories, exact top-k in blocks, cross-lens overlap."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.lenses.vectors import normalize, shared_neighbours, top_k, zero_shot


def test_normalize_gives_unit_rows_and_keeps_zero_rows():
    v = normalize(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]]))
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], atol=1e-7)


def test_zero_shot_picks_the_closest_label_with_its_cosine():
    labels = ["Food and Entertaining", "Pets and Animals", "Health"]
    label_vectors = np.eye(3)
    videos = np.array([[0.1, 2.0, 0.0], [1.0, 0.0, 1.0 - 1e-3], [0.0, 0.0, 5.0]])
    found = zero_shot(videos, labels, label_vectors)
    assert [f["label"] for f in found] == ["Pets and Animals", "Food and Entertaining", "Health"]
    assert found[2]["score"] == pytest.approx(1.0)
    assert found[0]["score"] == pytest.approx(2.0 / np.hypot(0.1, 2.0), abs=1e-6)
    assert set(found[0]["scores"]) == set(labels)


def test_zero_shot_needs_one_vector_per_label():
    with pytest.raises(ValueError, match="2 labels but 3"):
        zero_shot(np.eye(3), ["a", "b"], np.eye(3))


def test_top_k_on_points_of_a_circle_are_the_adjacent_angles():
    angles = np.deg2rad([0, 10, 30, 70, 100, 180])
    x = (
        np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.arange(1, 7)[:, None]
    )  # norms differ
    idx, sims = top_k(x, 2, block=4)  # blocks of 4 rows: the second block is short
    assert idx.tolist() == [[1, 2], [0, 2], [1, 0], [4, 2], [3, 2], [4, 3]]
    assert sims[0, 0] == pytest.approx(np.cos(np.deg2rad(10)), abs=1e-6)
    assert np.all(np.diff(sims, axis=1) <= 0)  # best first


def test_top_k_matches_brute_force_across_block_sizes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(257, 16))
    n = normalize(x)
    full = n @ n.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :5]
    for block in (1, 64, 1000):
        idx, _ = top_k(x, 5, block=block)
        assert np.array_equal(idx, expected), block


def test_top_k_never_returns_oneself_and_caps_k_at_n_minus_one():
    idx, sims = top_k(np.ones((3, 4)), 10)
    assert idx.shape == (3, 2)
    assert all(i not in row for i, row in enumerate(idx.tolist()))
    assert top_k(np.ones((1, 4)), 3)[0].shape == (1, 0)


def test_shared_neighbours_counts_common_ids_for_videos_in_both_lenses():
    a = {"v1": ["v2", "v3", "v4"], "v2": ["v1", "v3", "v4"], "v9": ["v1"]}
    b = {"v1": ["v4", "v5", "v2"], "v2": ["v5", "v6", "v7"]}
    assert shared_neighbours(a, b) == {"v1": 2, "v2": 0}
