"""Second opinions against MongoDB, a bucket and a loopback endpoint: which nodes are
asked, what is stored, the stage-3 bad-output cases, and stale-only reruns."""

from __future__ import annotations

import json

import pytest

from actionlens.opinions import prompt as P
from actionlens.opinions import run as op
from actionlens.settings import OpinionSource
from actionlens.store.mongo import NODES, VIDEOS
from actionlens.testing.loopback import LoopbackServer, count_images
from actionlens.testing.media import Scene
from actionlens.testing.trees import small_tree
from actionlens.tree import annotated_video_ids

pytestmark = pytest.mark.integration  # mongod, a bucket folder and HTTP on loopback

VID = "opnDEF12345"
ANSWER = {
    "summary": {"brief": "Eggs are whisked.", "detailed": "Hands whisk two eggs in a red bowl."},
    "action": {
        "brief": "whisk eggs",
        "detailed": "Whisk the eggs in a bowl.",
        "actor": "a pair of hands",
    },
}
GPT = {
    "summary": {"brief": "ref", "detailed": "ref text"},
    "action": {"brief": "N/A", "detailed": "N/A", "actor": "N/A"},
}


@pytest.fixture
def stored(settings, db, silent_clip, store_clip):
    """small_tree: the root [0, 12] has `ours`, [5, 12] only `gpt`, the rest nothing."""
    clip = silent_clip([Scene(5.0, (200, 40, 40)), Scene(7.0, (40, 70, 200))], fps=8, size=(96, 64))
    transcript = [
        {"start": 0.0, "end": 5.0, "text": "First crack the eggs."},
        {"start": 5.0, "end": 12.0, "text": "Now whisk them well."},
    ]
    store_clip(settings, db, VID, clip, transcript)
    docs = small_tree(VID)
    for d in docs:
        if (d["start"], d["end"]) == (0.0, 12.0):
            d["annotations"] = {"ours": {"status": "ok", **ANSWER}}
        elif (d["start"], d["end"]) == (5.0, 12.0):
            d["annotations"] = {"gpt": GPT}
    db[NODES].insert_many(docs)
    return db


def opinion(db, start, end, source="qwen3vl"):
    doc = db[NODES].find_one({"video_id": VID, "start": start, "end": end})
    return (doc.get("annotations") or {}).get(source)


def runner(settings, db, url, model_id="Qwen/Qwen3-VL-8B-Instruct"):
    settings.models.endpoint = url
    settings.models.retries = 1
    settings.models.backoff_seconds = 0.01
    spec = OpinionSource(source="qwen3vl", backend="openai", model_id=model_id, max_new_tokens=256)
    settings.opinions.sources = [spec]
    return op.OpinionRunner(settings, op.load_opinion_model(spec, settings), "qwen3vl", db=db)


def test_every_annotated_node_is_shown_32_frames_and_answers_are_stored(settings, stored):
    with LoopbackServer(lambda body: "Here you go:\n" + json.dumps(ANSWER)) as srv:
        report = runner(settings, stored, srv.url).run([VID])
    assert srv.problems == [] and report["nodes"] == 2 and report["opined"] == [VID]
    assert sorted(count_images(b) for b in srv.requests) == [32, 32]
    assert opinion(stored, 0.0, 5.0) is None  # a leaf nobody annotated is not asked about
    mid = opinion(stored, 5.0, 12.0)  # annotated by the reference import only: asked too
    assert mid["status"] == "ok" and mid["summary"] == ANSWER["summary"]
    assert mid["model_id"] == "Qwen/Qwen3-VL-8B-Instruct" and mid["prompt_hash"] == P.prompt_hash()
    assert mid["baseline"] is False and mid["frames"] == 32 and mid["size"] == 320
    assert opinion(stored, 5.0, 12.0, "gpt") == GPT  # the reference is left as it was
    stage = stored[VIDEOS].find_one({"_id": VID})["stages"]["opinions"]["qwen3vl"]
    assert stage["state"] == "done" and stage["ok"] == 2


@pytest.mark.parametrize(
    "bad, error",
    [
        ("I think the video shows eggs.", "no complete JSON"),
        ('{"summary": {"brief": "eggs"}}', "does not match the schema"),
        (json.dumps(ANSWER)[:70], "no complete JSON"),
        ("", "empty"),
    ],
)
def test_bad_answers_get_one_repair_turn_then_stay_invalid_with_raw_text(
    settings, stored, bad, error
):
    with LoopbackServer(lambda body: bad) as srv:
        report = runner(settings, stored, srv.url).run([VID])
    assert len(srv.requests) == 4  # an answer and a repair turn per node
    repair = srv.requests[-1]["messages"][-1]["content"]
    assert error in repair
    root = opinion(stored, 0.0, 12.0)
    assert root["status"] == "invalid" and root["raw"] == bad and root["repaired"] is True
    assert error in root["error"] and "summary" not in root
    assert report["failed"] == [VID]  # no node got a usable opinion


def test_extra_text_around_the_json_is_accepted_without_repair(settings, stored):
    answer = (
        "<think>look at the bowl</think>Sure!\n```json\n"
        + json.dumps(ANSWER)
        + "\n```\nHope it helps."
    )
    with LoopbackServer(lambda body: answer) as srv:
        runner(settings, stored, srv.url).run([VID])
    assert len(srv.requests) == 2
    assert opinion(stored, 0.0, 12.0)["repaired"] is False


def test_reruns_ask_only_about_stale_nodes(settings, stored, monkeypatch):
    with LoopbackServer(lambda body: json.dumps(ANSWER)) as srv:
        r = runner(settings, stored, srv.url)
        r.run([VID])
        assert r.run([VID])["nodes"] == 0 and len(srv.requests) == 2  # idempotent
        stored[NODES].update_one(
            {"video_id": VID, "start": 0.0, "end": 12.0},
            {"$set": {"annotations.qwen3vl.version": "old@0000"}},
        )
        assert r.run([VID])["nodes"] == 1
        monkeypatch.setattr(P, "INSTRUCTIONS", P.INSTRUCTIONS + "\n5. Be brief.")
        assert r.run([VID])["nodes"] == 2
    assert stored[NODES].count_documents({"annotations.qwen3vl": {"$exists": True}}) == 2


def test_unreachable_endpoint_marks_nodes_errored_and_they_rerun(settings, stored):
    report = runner(settings, stored, "http://127.0.0.1:9/v1").run([VID])
    assert opinion(stored, 0.0, 12.0)["status"] == "error" and report["failed"] == [VID]
    with LoopbackServer(lambda body: json.dumps(ANSWER)) as srv:
        assert runner(settings, stored, srv.url).run([VID])["nodes"] == 2


def test_a_video_without_a_clip_fails_alone_with_its_id(settings, stored):
    other = "noClip12345"
    stored[NODES].insert_many([{**d, "annotations": {"gpt": GPT}} for d in small_tree(other)])
    with LoopbackServer(lambda body: json.dumps(ANSWER)) as srv:
        report = runner(settings, stored, srv.url).run([other, VID])
    assert report["opined"] == [VID] and report["failed"] == [other]
    assert f"[{other}] has no stored clip" in report["videos"][0]["error"]


def test_baselines_answer_from_frames_and_transcript_and_say_so(settings, stored):
    report = op.opinions_batch(settings, [VID])
    assert report["opined"] == [VID] and [r["source"] for r in report["sources"]] == [
        "qwen3vl",
        "molmo2",
    ]
    frames, speech = opinion(stored, 0.0, 12.0, "qwen3vl"), opinion(stored, 0.0, 12.0, "molmo2")
    assert frames["baseline"] is True and frames["model_id"].endswith("-baseline")
    assert frames["summary"]["brief"].startswith("A mostly ")  # from the decoded frames
    assert opinion(stored, 5.0, 12.0, "qwen3vl")["summary"]["brief"].startswith("A mostly blue")
    assert speech["summary"]["brief"] == "First crack the eggs."
    assert op.opinions_batch(settings, [VID])["sources"][0]["nodes"] == 0  # idempotent


def test_all_annotated_lists_videos_with_annotations_from_others_only(settings, stored):
    stored[NODES].insert_many(
        [{**d, "annotations": {"qwen3vl": ANSWER}} for d in small_tree("onlyOpinion")]
    )
    assert annotated_video_ids(stored, {"qwen3vl", "molmo2"}) == [VID]
