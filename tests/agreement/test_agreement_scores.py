"""Agreement scores against hand-computed values, and their rows in MongoDB."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actionlens.agreement.lexical import lexical_batch, lexical_similarity
from actionlens.agreement.score import FIELDS, pairs_for_nodes, score_videos
from actionlens.agreement.semantic import Embedder
from actionlens.agreement.temporal import boundary_precision_recall, temporal_agreement


class FakeModel:
    """Fixed vectors per text, so cosines are known by hand."""

    VECTORS = {"east": [1.0, 0.0], "west": [-1.0, 0.0], "north east": [1.0, 1.0], "n/a": [0.0, 1.0]}

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts, normalize_embeddings=True, **_):
        self.calls.append(list(texts))
        vecs = np.array([self.VECTORS.get(t, [0.6, 0.8]) for t in texts], dtype=np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def fake_embedder() -> Embedder:
    return Embedder(model=FakeModel())


def test_lexical_is_one_minus_distance_over_longer_length():
    assert lexical_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert lexical_similarity("  Pour The Batter ", "pour the batter") == 1.0
    assert lexical_similarity("abcd", "abxy") == 0.5


def test_lexical_lower_cases_like_the_workshop_plugin_not_casefold():
    # str.lower() keeps "ß" (casefold would make it "ss" and call these identical).
    assert lexical_similarity("Straße", "STRASSE") == pytest.approx(1 - 2 / 7)
    assert lexical_batch(["Straße"], ["STRASSE"]).tolist() == [pytest.approx(1 - 2 / 7)]


def test_lexical_empty_texts():
    assert lexical_similarity("", "  ") == 1.0
    assert lexical_similarity(None, "") == 1.0
    assert lexical_similarity("", "a") == 0.0


def test_lexical_batch_equals_pairwise_exactly():
    a = ["kitten", "", "N/A", "Whisk the eggs", "x" * 500]
    b = ["sitting", "", "n/a ", "whisk eggs", "x" * 499 + "y"]
    assert lexical_batch(a, b).tolist() == [
        lexical_similarity(x, y) for x, y in zip(a, b, strict=True)
    ]


def test_semantic_cosine_is_floored_at_zero():
    sims = fake_embedder().similarity(["east", "east", "east"], ["west", "north east", "east"])
    assert sims.tolist() == pytest.approx([0.0, 1 / math.sqrt(2), 1.0])


def test_semantic_empty_texts():
    assert fake_embedder().similarity(["", "", "east"], [" ", "east", ""]).tolist() == [
        1.0,
        0.0,
        0.0,
    ]


def test_each_distinct_text_is_embedded_once():
    emb = fake_embedder()
    emb.similarity(["east", "east", "west"], ["west", "east", "north east"])
    emb.similarity(["east"], ["north east"])
    assert emb.encoded == 3 and len(emb.model.calls) == 1


def test_texts_reach_the_encoder_as_written():
    """Like the workshop's plugin: no case-folding or stripping before the encoder."""
    emb = fake_embedder()
    emb.similarity(["East ", "Straße"], ["east", "STRASSE"])
    assert emb.model.calls == [["East ", "Straße", "east", "STRASSE"]]


def test_boundary_precision_recall_within_tolerance():
    assert boundary_precision_recall([2.0, 5.0], [2.3], 0.5) == (0.5, 1.0)
    assert boundary_precision_recall([2.0], [2.6], 0.5) == (0.0, 0.0)
    assert boundary_precision_recall([], [], 0.5) == (1.0, 1.0)


def test_temporal_agreement_by_hand():
    a = [(0.0, 2.0), (2.0, 5.0), (5.0, 10.0)]
    b = [(0.0, 2.3), (2.3, 10.0)]
    got = temporal_agreement(a, b, tolerance=0.5)
    iou_a = (2 / 2.3 + 2.7 / 8 + 5 / 7.7) / 3
    iou_b = (2 / 2.3 + 5 / 7.7) / 2
    assert got["boundary_precision"] == 0.5 and got["boundary_recall"] == 1.0
    assert got["boundary_f1"] == pytest.approx(2 / 3)
    assert got["mean_best_iou_a"] == pytest.approx(iou_a)
    assert got["mean_best_iou"] == pytest.approx((iou_a + iou_b) / 2)


def _ann(brief, actor="a person"):
    return {
        "summary": {"brief": brief, "detailed": brief},
        "action": {"brief": brief, "detailed": brief, "actor": actor},
    }


def _nodes(video_id="vvvvvvvvvvv"):
    return [
        {
            "_id": "r",
            "video_id": video_id,
            "segmenter": "action100m",
            "parent_id": None,
            "level": 0,
            "start": 0.0,
            "end": 10.0,
            "annotations": {
                "gpt": _ann("east"),
                "qwen3vl": _ann("east"),
                "molmo2": _ann("west", None),
            },
        },
        {
            "_id": "a",
            "video_id": video_id,
            "segmenter": "action100m",
            "parent_id": "r",
            "level": 1,
            "start": 0.0,
            "end": 4.0,
            "annotations": {"gpt": _ann("north east")},
        },
        {
            "_id": "b",
            "video_id": video_id,
            "segmenter": "action100m",
            "parent_id": "r",
            "level": 1,
            "start": 4.0,
            "end": 10.0,
        },
        {
            "_id": "s1",
            "video_id": video_id,
            "segmenter": "vjepa2-ward",
            "parent_id": None,
            "level": 0,
            "start": 0.0,
            "end": 10.0,
        },
        {
            "_id": "s2",
            "video_id": video_id,
            "segmenter": "vjepa2-ward",
            "parent_id": "s1",
            "level": 1,
            "start": 0.0,
            "end": 4.4,
        },
        {
            "_id": "s3",
            "video_id": video_id,
            "segmenter": "vjepa2-ward",
            "parent_id": "s1",
            "level": 1,
            "start": 4.4,
            "end": 10.0,
        },
    ]


def test_failed_opinions_are_not_scored():
    nodes = _nodes()
    nodes[0]["annotations"]["molmo2"] = {"status": "failed", "raw": "not json"}
    items = pairs_for_nodes(nodes, [("gpt", "qwen3vl"), ("gpt", "molmo2")])
    assert {p.source_b for p in items} == {"qwen3vl"}


def test_pairs_only_where_both_sources_annotated():
    items = pairs_for_nodes(_nodes(), [("gpt", "qwen3vl"), ("gpt", "molmo2"), ("gpt", "ours")])
    assert {(p.node_id, p.source_b) for p in items} == {("r", "qwen3vl"), ("r", "molmo2")}
    assert len(items) == 2 * len(FIELDS)
    actor = next(p for p in items if p.source_b == "molmo2" and p.field == "action_actor")
    assert (actor.text_a, actor.text_b) == ("a person", "")


@pytest.mark.integration
def test_score_videos_writes_rows_and_rerun_replaces_them(settings, db):
    db.nodes.insert_many(_nodes())
    cfg = settings.model_copy(
        update={
            "agreement": settings.agreement.model_copy(
                update={
                    "pairs": [("gpt", "qwen3vl"), ("gpt", "molmo2")],
                    "boundary_tolerance_seconds": 0.5,
                }
            )
        }
    )
    result = score_videos(cfg, ["vvvvvvvvvvv"], embedder=fake_embedder())
    assert result["node_rows"] == 10 and result["temporal_rows"] == 1
    row = db.scores.find_one({"_id": "r|summary_brief|gpt|molmo2"})
    assert (row["lexical"], row["semantic"]) == (0.5, 0.0)  # east|west: 2 edits of 4
    assert row["scorer_version"].startswith("agreement-2/")
    assert db.scores.find_one({"_id": "r|action_actor|gpt|molmo2"})["lexical"] == 0.0
    assert db.scores.find_one({"_id": "r|action_actor|gpt|qwen3vl"})["semantic"] == pytest.approx(
        1.0
    )
    temporal = db.temporal_scores.find_one()
    assert (temporal["segmenter_a"], temporal["segmenter_b"]) == ("action100m", "vjepa2-ward")
    assert temporal["boundary_precision"] == 1.0  # 4.0 vs 4.4 within 0.5 s

    db.nodes.update_one({"_id": "r"}, {"$unset": {"annotations.molmo2": ""}})
    again = score_videos(cfg, ["vvvvvvvvvvv"], embedder=fake_embedder())
    assert again["node_rows"] == 5
    assert db.scores.count_documents({}) == 5
    assert db.scores.count_documents({"source_b": "molmo2"}) == 0
    assert db.temporal_scores.count_documents({}) == 1


@pytest.mark.integration
def test_default_model_loads_offline_and_ranks_paraphrases():
    emb = Embedder()
    sims = emb.similarity(
        ["A man slices a loaf of bread.", "A man slices a loaf of bread."],
        ["A person cuts bread with a knife.", "The stock market fell sharply today."],
    )
    assert sims[0] > 0.5 > sims[1] >= 0.0
