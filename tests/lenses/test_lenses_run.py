"""Lenses and neighbours against MongoDB and a bucket with the CPU lenses: the real
all-MiniLM-L6-v2 on transcripts and the weight-free frame-histogram baseline."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.lenses import run as lens_run
from actionlens.lenses.neighbours import NEIGHBOURS, OVERLAP, compute_neighbours
from actionlens.store.mongo import VIDEOS
from actionlens.testing.media import Scene

pytestmark = pytest.mark.integration  # mongod and a bucket folder

VIDEOS_ = {
    "lensVid0001": ((200, 40, 40), "Today we bake a chocolate cake and whisk the eggs for dinner."),
    "lensVid0002": ((210, 50, 30), "Mix flour and sugar, then bake the cake in the oven."),
    "lensVid0003": ((40, 70, 200), "Replace the brake pads on your car and check the tyres."),
    "lensVid0004": ((30, 80, 210), ""),  # no speech: the transcript lens has nothing to embed
}


@pytest.fixture
def stored(settings, db, silent_clip, store_clip):
    for i, (vid, (colour, text)) in enumerate(VIDEOS_.items()):
        clip = silent_clip([Scene(4.0, colour)], fps=8, size=(96, 64), name=f"{vid}.mp4", seed=i)
        segments = [{"start": 0.0, "end": 4.0, "text": text}] if text else []
        store_clip(settings, db, vid, clip, segments)
    return db


def lens_doc(db, vid, lens):
    return db[lens_run.LENSES].find_one({"_id": f"{vid}:{lens}"})


def test_each_video_gets_a_unit_vector_per_lens_with_its_model_id(settings, stored):
    report = lens_run.LensRunner(settings, db=stored).run(list(VIDEOS_))
    # An empty transcript leaves the transcript lens nothing to embed: skipped, stored empty.
    assert (
        report["lenses"]["transcript"]["counts"]["done"] == 3
        and report["lenses"]["transcript"]["counts"]["skipped"] == 1
    )
    assert report["lenses"]["visual"]["counts"]["done"] == 4 and report["failed"] == []
    text = lens_doc(stored, "lensVid0001", "transcript")
    assert (
        text["model_id"] == "all-MiniLM-L6-v2" and text["baseline"] is False and text["dim"] == 384
    )
    visual = lens_doc(stored, "lensVid0001", "visual")
    assert visual["model_id"] == "frame-histogram-baseline" and visual["baseline"] is True
    assert visual["dim"] == 256
    for doc in stored[lens_run.LENSES].find({"status": "ok"}):
        assert np.linalg.norm(doc["vector"]) == pytest.approx(1.0, abs=1e-5)
    assert lens_doc(stored, "lensVid0004", "transcript")["status"] == "empty"


def test_the_transcript_lens_gives_a_baseline_category_from_its_text_space(settings, stored):
    lens_run.LensRunner(settings, db=stored).run(list(VIDEOS_))
    cake = lens_doc(stored, "lensVid0001", "transcript")["category"]
    assert cake["label"] == "Cooking and Food" and cake["baseline"] is True
    assert cake["method"] == "transcript text-space baseline" and -1 <= cake["score"] <= 1
    assert len(cake["scores"]) == 12
    assert lens_doc(stored, "lensVid0003", "transcript")["category"]["label"] == "Automotive"
    assert "category" not in lens_doc(stored, "lensVid0001", "visual")


def test_rerun_is_idempotent_and_a_changed_transcript_re_embeds_only_that_video(settings, stored):
    runner = lens_run.LensRunner(settings, db=stored)
    runner.run(list(VIDEOS_))
    again = runner.run(list(VIDEOS_))
    assert (
        again["lenses"]["transcript"]["counts"]["up_to_date"] == 4
        and again["lenses"]["visual"]["counts"]["up_to_date"] == 4
    )
    stored[VIDEOS].update_one(
        {"_id": "lensVid0003"}, {"$set": {"transcript.segments.0.text": "Groom your dog."}}
    )
    third = runner.run(list(VIDEOS_))
    assert (
        third["lenses"]["transcript"]["counts"].get("done") == 1
        and third["lenses"]["visual"]["counts"].get("done") is None
    )
    assert lens_doc(stored, "lensVid0003", "transcript")["category"]["label"] == "Pets and Animals"


def test_a_video_without_a_clip_fails_the_visual_lens_only(settings, stored):
    stored[VIDEOS].insert_one(
        {
            "_id": "lensNoClip1",
            "state": "stored",
            "transcript": {"segments": [{"start": 0, "end": 1, "text": "hello"}]},
        }
    )
    report = lens_run.LensRunner(settings, db=stored).run(["lensNoClip1", "lensVid0001"])
    visual = {v["video_id"]: v for v in report["lenses"]["visual"]["videos"]}
    assert (
        report["failed"] == ["lensNoClip1"]
        and "[lensNoClip1] has no stored clip" in visual["lensNoClip1"]["error"]
    )
    assert lens_doc(stored, "lensNoClip1", "transcript")["status"] == "ok"
    assert report["embedded"] == ["lensVid0001"]


def test_neighbours_and_cross_lens_overlap_are_stored_per_video(settings, stored):
    lens_run.LensRunner(settings, db=stored).run(list(VIDEOS_))
    report = compute_neighbours(settings, db=stored, k=1)
    assert (
        report["lenses"]["transcript"]["videos"] == 3 and report["lenses"]["visual"]["videos"] == 4
    )
    near = {
        d["video_id"]: d["neighbours"][0]["video_id"]
        for d in stored[NEIGHBOURS].find({"lens": "visual"})
    }
    assert (
        near["lensVid0001"] == "lensVid0002" and near["lensVid0003"] == "lensVid0004"
    )  # same colours
    text = stored[NEIGHBOURS].find_one({"_id": "lensVid0001:transcript"})
    assert text["neighbours"][0]["video_id"] == "lensVid0002" and text["neighbours"][0]["rank"] == 1
    both = stored[OVERLAP].find_one({"_id": "lensVid0001:transcript:visual"})
    assert both["shared"] == 1 and both["fraction"] == 1.0 and both["k"] == 1
    # Videos in both lenses of each pair: transcript with visual and with motion 3 each,
    # visual with motion 4.
    assert stored[OVERLAP].count_documents({}) == 3 + 3 + 4
    compute_neighbours(settings, db=stored, k=1)
    # A rerun replaces, never duplicates: 3 transcript + 4 visual + 4 motion lists.
    assert stored[NEIGHBOURS].count_documents({}) == 3 + 4 + 4
