"""Stage 3 against MongoDB and a loopback endpoint: Self-Refine turns, storage, failures,
retries and stale-only reruns."""

from __future__ import annotations

import json

import pytest

from actionlens.aggregate import prompt as P
from actionlens.aggregate import run as agg
from actionlens.models import load_model
from actionlens.settings import ModelSpec
from actionlens.store.mongo import NODES, VIDEOS
from actionlens.testing.loopback import LoopbackServer
from actionlens.testing.trees import small_tree

pytestmark = pytest.mark.integration  # mongod and/or HTTP on loopback

VID = "abcDEF12345"
SOURCE = "cap-model"
ANSWER = {
    "summary": {
        "brief": "Eggs are cracked and whisked.",
        "detailed": "Hands crack two eggs and whisk them.",
    },
    "action": {
        "brief": "whisk eggs",
        "detailed": "Whisk the eggs in a bowl.",
        "actor": "a pair of hands",
    },
}


def turns(body) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "assistant")


def span_of(body) -> str:
    first = body["messages"][0]["content"]
    return first.rsplit("current segment ", 1)[1]


def refine(body) -> str:
    """Draft in prose-wrapped JSON, revisions in fences; text says which turn it is."""
    n = turns(body)
    answer = dict(ANSWER, summary={**ANSWER["summary"], "brief": f"turn {n}: eggs are whisked."})
    return f"Reasoning first.\n```json\n{json.dumps(answer)}\n```"


@pytest.fixture
def tree_db(settings, db):
    docs = small_tree(VID)
    for d in docs:
        d["captions"] = {SOURCE: {"video": {"text": f"caption of {d['start']}-{d['end']}"}}}
    db[NODES].insert_many(docs)
    db[VIDEOS].insert_one(
        {
            "_id": VID,
            "state": "stored",
            "task_name": "Make Pancakes",
            "transcript": {"segments": [{"start": 0, "end": 12, "text": "hello"}]},
        }
    )
    return db


def aggregator(settings, db, url):
    settings.models.endpoint = url
    settings.models.retries = 2
    settings.models.backoff_seconds = 0.01
    settings.models.aggregator = ModelSpec(
        backend="openai", model_id="openai/gpt-oss-120b", max_new_tokens=512
    )
    model = load_model(settings.models.aggregator, settings.models)
    return agg.Aggregator(settings, model, db=db, captions=SOURCE)


def annotation(db, start, end):
    return (
        db[NODES].find_one({"video_id": VID, "start": start, "end": end}).get("annotations") or {}
    ).get("ours")


def test_only_non_leaf_nodes_of_four_seconds_or_more_are_annotated(settings, tree_db):
    with LoopbackServer(refine) as srv:
        report = aggregator(settings, tree_db, srv.url).run([VID])
    assert report["nodes"] == 2  # [0, 12] and [5, 12]; [5, 8] is 3 s, the rest are leaves
    assert annotation(tree_db, 5.0, 8.0) is None and annotation(tree_db, 0.0, 5.0) is None
    assert report["annotated"] == [VID]


def test_self_refine_is_a_draft_and_two_revisions_in_one_conversation(settings, tree_db):
    with LoopbackServer(refine) as srv:
        aggregator(settings, tree_db, srv.url).run([VID])
    assert srv.problems == []
    mid = [b for b in srv.requests if span_of(b).startswith("[5.00 s - 12.00 s]")]
    assert [len(b["messages"]) for b in mid] == [1, 3, 5]
    final = mid[-1]["messages"]
    assert [m["role"] for m in final] == ["user", "assistant", "user", "assistant", "user"]
    assert final[2]["content"] == final[4]["content"] == P.REVISION
    assert final[0]["content"] == mid[0]["messages"][0]["content"]  # the same conversation
    stored = annotation(tree_db, 5.0, 12.0)
    assert stored["summary"]["brief"] == "turn 2: eggs are whisked."  # the last revision wins
    assert stored["status"] == "ok" and stored["rounds"] == 3 and stored["repaired"] is False
    assert stored["model_id"] == "openai/gpt-oss-120b" and stored["prompt_hash"] == P.prompt_hash()
    assert stored["usage"]["completion_tokens"] > 0 and stored["baseline"] is False
    assert stored["caption_source"] == SOURCE and "raw" not in stored


def test_invalid_answer_is_repaired_once_then_stored_failed_with_raw_text(settings, tree_db):
    def answer(body):
        root = span_of(body).startswith("[0.00 s - 12.00 s]")
        if turns(body) < 3:
            return "I think the video shows eggs."  # prose, no JSON
        return "still no json" if root else json.dumps(ANSWER)  # repair turn

    with LoopbackServer(answer) as srv:
        report = aggregator(settings, tree_db, srv.url).run([VID])
    root, mid = annotation(tree_db, 0.0, 12.0), annotation(tree_db, 5.0, 12.0)
    assert (mid["status"], mid["rounds"], mid["repaired"]) == ("ok", 4, True)
    assert root["status"] == "invalid" and root["raw"] == "still no json" and "summary" not in root
    assert "no complete JSON" in root["error"]
    assert report["videos"][0]["invalid"] == 1 and report["annotated"] == [VID]


def test_429_and_500_then_success(settings, tree_db):
    with LoopbackServer(refine, script=["429", "500"]) as srv:
        aggregator(settings, tree_db, srv.url).run([VID])
    assert len(srv.requests) == 2 * 3 + 2
    assert annotation(tree_db, 0.0, 12.0)["status"] == "ok"


def test_answers_cut_off_at_the_token_limit_get_the_repair_turn(settings, tree_db):
    def answer(body):
        if turns(body) < 3:
            return json.dumps(ANSWER)[:60]
        return json.dumps(ANSWER)

    with LoopbackServer(answer) as srv:
        aggregator(settings, tree_db, srv.url).run([VID])
        repair = [b for b in srv.requests if turns(b) == 3][0]["messages"][-1]["content"]
    assert "no complete JSON" in repair
    assert annotation(tree_db, 0.0, 12.0)["repaired"] is True


def test_a_prompt_change_reruns_only_stale_nodes(settings, tree_db, monkeypatch):
    with LoopbackServer(refine) as srv:
        a = aggregator(settings, tree_db, srv.url)
        a.run([VID])
        assert len(srv.requests) == 6
        assert a.run([VID])["nodes"] == 0 and len(srv.requests) == 6  # nothing stale
        tree_db[NODES].update_one(
            {"video_id": VID, "start": 0.0, "end": 12.0},
            {"$set": {"annotations.ours.version": "old-model@0000"}},
        )
        assert a.run([VID])["nodes"] == 1
        monkeypatch.setattr(P, "INSTRUCTIONS", P.INSTRUCTIONS + "\n9. Be brief.")
        assert a.run([VID])["nodes"] == 2
    assert annotation(tree_db, 5.0, 12.0)["prompt_hash"] == P.prompt_hash()


def test_an_unreachable_endpoint_marks_nodes_errored_and_they_rerun(settings, tree_db):
    a = aggregator(settings, tree_db, "http://127.0.0.1:9/v1")
    report = a.run([VID])
    assert annotation(tree_db, 0.0, 12.0)["status"] == "error"
    assert report["videos"][0]["errors"] == 2
    with LoopbackServer(refine) as srv:
        assert aggregator(settings, tree_db, srv.url).run([VID])["nodes"] == 2


def test_baselines_run_both_stages_end_to_end(settings, db):
    from actionlens.caption.run import caption_batch

    db[NODES].insert_many(small_tree(VID))
    db[VIDEOS].insert_one(
        {
            "_id": VID,
            "state": "stored",
            "transcript": {
                "segments": [
                    {"start": 0.0, "end": 6.0, "text": "we crack the eggs."},
                    {"start": 6.0, "end": 12.0, "text": "now whisk them."},
                ]
            },
        }
    )
    caption_batch(settings, [VID])
    report = agg.aggregate_batch(settings, [VID])
    assert report["baseline"] is True and report["nodes"] == 2
    root = annotation(db, 0.0, 12.0)
    assert root["status"] == "ok" and root["summary"]["brief"] == "we crack the eggs."
    assert root["action"] == {"brief": "N/A", "detailed": "N/A", "actor": "N/A"}
    assert db[VIDEOS].find_one({"_id": VID})["stages"]["aggregate"]["annotated"] == 2


def test_a_tree_without_captions_fails_that_video_only(settings, db):
    db[NODES].insert_many(small_tree(VID))
    report = agg.aggregate_batch(settings, [VID, "zzzzzzzzzzz"])
    assert report["failed"] == [VID, "zzzzzzzzzzz"] and report["nodes"] == 0
    assert "run `caption` first" in report["videos"][0]["error"]


def test_tiny_qwen3vl_aggregator_keeps_its_raw_text_when_it_stays_invalid(
    settings, tree_db, tmp_path
):
    from actionlens.testing.tiny import save_tiny_qwen3vl

    weights = save_tiny_qwen3vl(tmp_path / "tiny-qwen3-vl")
    settings.models.device = "cpu"
    settings.models.aggregator = ModelSpec(
        backend="transformers", model_id="tiny/qwen3-vl", weights=str(weights), max_new_tokens=6
    )
    report = agg.aggregate_batch(settings, [VID], captions=SOURCE)
    assert report["nodes"] == 2 and report["annotated"] == [VID]
    root = annotation(tree_db, 0.0, 12.0)
    assert root["status"] == "invalid" and root["rounds"] == 4 and root["repaired"] is True
    assert isinstance(root["raw"], str) and root["usage"]["prompt_tokens"] > 1000


def test_tiny_molmo2_through_transformers_auto_aggregates(settings, tree_db, tmp_path):
    """Molmo2 as the aggregator: `transformers-auto` is known without importing opinions."""
    from actionlens.testing.tiny_molmo2 import save_tiny_molmo2

    weights = save_tiny_molmo2(tmp_path / "tiny-molmo2")
    settings.models.device = "cpu"
    settings.models.aggregator = ModelSpec(
        backend="transformers-auto", model_id="tiny/molmo2", weights=str(weights), max_new_tokens=6
    )
    report = agg.aggregate_batch(settings, [VID], captions=SOURCE)
    assert report["nodes"] == 2 and report["annotated"] == [VID]
    root = annotation(tree_db, 0.0, 12.0)
    assert (
        root["status"] == "invalid"
        and root["rounds"] == 4
        and root["backend"] == "transformers-auto"
    )


def test_changed_captions_rerun_the_nodes_whose_prompt_shows_them(settings, tree_db):
    with LoopbackServer(refine) as srv:
        a = aggregator(settings, tree_db, srv.url)
        assert a.run([VID])["nodes"] == 2
        # The leaf [6.5, 8] is in the subtree of both annotated nodes.
        tree_db[NODES].update_one(
            {"video_id": VID, "start": 6.5},
            {"$set": {f"captions.{SOURCE}.video.text": "a new caption"}},
        )
        assert a.run([VID])["nodes"] == 2
        assert a.run([VID])["nodes"] == 0
    assert annotation(tree_db, 0.0, 12.0)["input_hash"]
