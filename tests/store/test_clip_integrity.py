"""The bucket is not trusted blindly (issue 12, item 9): before a stage uses a clip, the
object's size and sha256 must match the ledger; a missing or mismatching object sends
the video back to acquisition with the reason and is never segmented from what is left.
The check is the runner's (`needs_clip`), so it holds for every stage that declares it."""

from __future__ import annotations

import pytest

from actionlens.runtime import Outcome, Result, VideoStage
from actionlens.segment.run import Segmenter
from actionlens.store.mongo import NODES, VIDEOS
from actionlens.store.storage import clip_key, open_bucket
from actionlens.testing.media import Scene, render_clip

pytestmark = pytest.mark.integration

GOOD, FLIPPED, CUT, GONE = "intactclip1", "flippedbyte", "cutinbucket", "deletedclip"
SCENES = [Scene(2.0, (200, 40, 40)), Scene(2.0, (40, 70, 200))]


@pytest.fixture
def damaged(settings, db, tmp_path, ffmpeg, store_clip):
    """Four clips stored whole as acquisition leaves them; then three are damaged in the
    bucket: one byte flipped (same size), cut to half, deleted."""
    clip = render_clip(tmp_path / "c.mp4", SCENES, ffmpeg=ffmpeg, size=(128, 96))
    for vid in (GOOD, FLIPPED, CUT, GONE):
        store_clip(settings, db, vid, clip)
    bucket = open_bucket(settings.bucket_uri())
    flipped = bucket.object_uri(clip_key(FLIPPED))
    with open(flipped, "r+b") as fh:
        fh.seek(len(clip.read_bytes()) * 2 // 3)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    cut = bucket.object_uri(clip_key(CUT))
    with open(cut, "r+b") as fh:
        fh.truncate(len(clip.read_bytes()) // 2)
    bucket.delete(clip_key(GONE))
    return bucket


def test_damaged_clips_go_back_to_acquisition_never_segmented(settings, db, damaged):
    report = Segmenter(settings, db=db, bucket=damaged).run([GOOD, FLIPPED, CUT, GONE])

    outcomes = {v.video_id: v.outcome for v in report.videos}
    assert outcomes == {GOOD: "done", FLIPPED: "failed", CUT: "failed", GONE: "failed"}
    assert set(db[NODES].distinct("video_id")) == {GOOD}  # nothing built from what is left
    docs = {d["_id"]: d for d in db[VIDEOS].find()}
    why = {FLIPPED: "sha256", CUT: "bytes in the bucket", GONE: "missing from the bucket"}
    for vid, words in why.items():
        doc = docs[vid]
        # Back to acquisition: retryable now, with the reason; the rejected facts kept.
        assert doc["state"] == "failed" and doc["next_attempt_at"] is not None
        assert vid in doc["last_error"] and words in doc["last_error"], doc["last_error"]
        assert "sent back to acquisition by segment" in doc["last_error"]
        assert "clip" not in doc and doc["clip_rejected"]["reason"] in doc["last_error"]
        stage = doc["stages"]["segment"]
        assert stage["state"] == "failed" and stage["retryable"] is True
        # The damaged object is gone, so acquisition fetches the source, not adopts it.
        assert not damaged.exists(clip_key(vid))
    assert docs[GOOD]["state"] == "stored" and damaged.exists(clip_key(GOOD))

    # A rerun neither re-checks nor re-fails them: they wait for acquisition.
    again = Segmenter(settings, db=db, bucket=damaged).run([FLIPPED, GONE])
    assert [v.outcome for v in again.videos] == ["skipped", "skipped"]


class _Reads(VideoStage):
    """Any stage that declares it reads the clip; records what it was handed."""

    name = "probe_reads"
    needs_clip = True

    def __init__(self, db, bucket):
        self.ledger, self.bucket, self.seen = db[VIDEOS], bucket, []

    def process(self, video_id: str) -> Result:
        self.seen.append(video_id)
        return Result(Outcome.DONE)


def test_the_runner_checks_every_stage_that_needs_the_clip(settings, db, damaged):
    stage = _Reads(db, damaged)
    report = stage.run_batch([GOOD, FLIPPED, CUT, GONE])
    assert stage.seen == [GOOD]  # the stage never sees a damaged clip
    assert report.ids(Outcome.FAILED) == [FLIPPED, CUT, GONE]
    assert db[VIDEOS].find_one({"_id": GOOD})["stages"]["probe_reads"]["state"] == "done"


def test_a_stored_clip_without_size_and_hash_on_the_ledger_is_not_trusted(settings, db, damaged):
    db[VIDEOS].update_one({"_id": GOOD}, {"$unset": {"clip.sha256": "", "clip.size_bytes": ""}})
    stage = _Reads(db, damaged)
    assert stage.one(GOOD).outcome == "failed" and stage.seen == []
    assert "no size/sha256" in db[VIDEOS].find_one({"_id": GOOD})["last_error"]


def test_a_lens_that_reads_frames_gets_only_checked_clips(settings, db, damaged):
    from actionlens.lenses.run import LensRunner

    report = LensRunner(settings, db=db, bucket=damaged).run([GOOD, FLIPPED], lenses=["visual"])
    visual = {v["video_id"]: v for v in report["lenses"]["visual"]["videos"]}
    assert visual[GOOD]["outcome"] == "done"
    assert visual[FLIPPED]["outcome"] == "failed" and "sha256" in visual[FLIPPED]["error"]
    assert db[VIDEOS].find_one({"_id": FLIPPED})["state"] == "failed"
    assert db.lenses.find_one({"_id": f"{FLIPPED}:visual"}) is None  # no vector from it
