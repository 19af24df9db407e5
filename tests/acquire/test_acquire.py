"""Acquisition end to end below Airflow: a loopback HTTP source, yt-dlp, ffmpeg, the
real mongod and a bucket. Every fault ends in the right ledger state, the batch goes on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from actionlens.acquire import fetch
from actionlens.acquire.run import Acquirer, plan
from actionlens.media import probe
from actionlens.serve import StaticServer
from actionlens.store.mongo import VIDEOS
from actionlens.store.storage import LocalBucket, clip_key
from actionlens.testing.media import Scene, make_source, render_clip

pytestmark = pytest.mark.integration

TALL = "tallclip001"
NOT_VIDEO, ZERO, TRUNCATED, MISSING = "notvideo001", "zerobyte001", "truncated01", "missing0001"


@pytest.fixture(scope="module")
def source(tmp_path_factory, ffmpeg):
    root = tmp_path_factory.mktemp("source")
    src = make_source(root, ffmpeg=ffmpeg, n_videos=2, seconds=4.0, extra_manifest_ids=0)
    videos = src.videos_dir
    render_clip(
        videos / f"{TALL}.mp4",
        [Scene(2.0, (200, 30, 30)), Scene(2.0, (30, 30, 200))],
        ffmpeg=ffmpeg,
        size=(500, 720),
        audio=False,
    )
    (videos / f"{NOT_VIDEO}.mp4").write_text("<html><body>This video is private</body></html>")
    (videos / f"{ZERO}.mp4").write_bytes(b"")
    whole = render_clip(
        root / "slow.mp4", [Scene(3.0, (10, 200, 10))], ffmpeg=ffmpeg, faststart=False
    )
    data = whole.read_bytes()
    (videos / f"{TRUNCATED}.mp4").write_bytes(data[: len(data) // 2])  # moov atom lost
    with StaticServer(videos) as server:
        yield src, server


@pytest.fixture
def acq_settings(settings, source):
    src, server = source
    return settings.model_copy(
        update={
            "acquire": settings.acquire.model_copy(
                update={
                    "manifest": str(src.manifest),
                    "task_ids": str(src.task_ids),
                    "transcripts": str(src.transcripts),
                    "url_template": server.url + "/{video_id}.mp4",
                    "clip_seconds": 3.0,
                    "batch_size": 2,
                }
            )
        }
    )


def register(db, *ids):
    from actionlens.acquire import ledger
    from actionlens.records import SourceRow

    ledger.register(
        db[VIDEOS],
        [SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1") for v in ids],
    )


def test_every_fault_ends_in_its_state_and_the_batch_completes(acq_settings, db, source):
    src, _ = source
    good = src.ids
    batch = [good[0], MISSING, NOT_VIDEO, ZERO, TRUNCATED, good[1]]
    register(db, *batch)
    report = Acquirer(acq_settings, db=db).run(batch)
    states = {o.video_id: o.state for o in report.videos}
    assert states == {
        good[0]: "stored",
        good[1]: "stored",
        MISSING: "unavailable",
        NOT_VIDEO: "unavailable",
        ZERO: "failed",
        TRUNCATED: "failed",
    }
    docs = {d["_id"]: d for d in db[VIDEOS].find()}
    assert "404" in docs[MISSING]["last_error"] and MISSING in docs[MISSING]["last_error"]
    assert "not a video" in docs[NOT_VIDEO]["last_error"]
    assert "incomplete" in docs[TRUNCATED]["last_error"] or "data" in docs[ZERO]["last_error"]
    for vid in (ZERO, TRUNCATED):
        assert docs[vid]["next_attempt_at"] is not None and docs[vid]["attempts"] == 1
    for vid in (MISSING, NOT_VIDEO):
        assert docs[vid]["next_attempt_at"] is None
    bucket = LocalBucket(acq_settings.bucket_uri())
    assert bucket.list("clips/") == sorted(f"clips/{v}.mp4" for v in good)


def test_stored_clip_is_normalised_and_its_facts_recorded(acq_settings, db, tmp_path):
    register(db, TALL)
    outcome = Acquirer(acq_settings, db=db).run([TALL]).videos[0]
    assert outcome.state == "stored", outcome.error
    local = LocalBucket(acq_settings.bucket_uri()).download(clip_key(TALL), tmp_path / "c.mp4")
    facts = probe(local)
    assert (facts.video_codec, facts.pix_fmt) == ("h264", "yuv420p")
    assert facts.height == 480 and facts.width % 2 == 0 and facts.width == 332
    assert facts.duration == pytest.approx(3.0, abs=0.1)  # cut at clip_seconds
    head = local.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart
    doc = db[VIDEOS].find_one({"_id": TALL})
    assert doc["clip"]["height"] == 480 and len(doc["clip"]["sha256"]) == 64
    assert doc["clip"]["uri"].endswith(f"clips/{TALL}.mp4")


def test_audio_is_normalised_to_aac(acq_settings, db, source):
    vid = source[0].ids[0]
    register(db, vid)
    outcome = Acquirer(acq_settings, db=db).run([vid]).videos[0]
    assert outcome.clip["audio_codec"] == "aac"


def test_upload_failure_leaves_no_object_and_the_video_retryable(
    acq_settings, db, source, monkeypatch
):
    vid = source[0].ids[0]
    register(db, vid)

    def refuse(self, local, key, metadata=None):
        raise OSError("connection reset during upload")

    monkeypatch.setattr(LocalBucket, "upload", refuse)
    outcome = Acquirer(acq_settings, db=db).run([vid]).videos[0]
    assert outcome.state == "failed" and "upload" in outcome.error
    doc = db[VIDEOS].find_one({"_id": vid})
    assert doc["state"] == "failed" and doc["next_attempt_at"] is not None
    monkeypatch.undo()
    assert not LocalBucket(acq_settings.bucket_uri()).exists(clip_key(vid))
    assert Acquirer(acq_settings, db=db).run([vid]).videos[0].state == "stored"


def test_rerun_of_the_same_night_downloads_and_uploads_nothing_twice(acq_settings, db, source):
    src, server = source
    first = plan(acq_settings)
    assert first.selected == len(src.ids) and first.transcripts == len(src.ids)
    for batch in first.batches:
        Acquirer(acq_settings, db=db).run(batch)
    fetched = {p: n for p, n in server.hits.items()}
    bucket = LocalBucket(acq_settings.bucket_uri())
    mtimes = {k: (bucket.root / k).stat().st_mtime_ns for k in bucket.list("clips/")}
    assert len(mtimes) == len(src.ids)

    again = plan(acq_settings)
    assert again.selected == 0 and again.batches == []
    # Even a batch task retried by hand leaves stored videos alone.
    for batch in first.batches:
        report = Acquirer(acq_settings, db=db).run(batch)
        assert {o.state for o in report.videos} == {"stored"}
    assert dict(server.hits) == fetched
    assert {k: (bucket.root / k).stat().st_mtime_ns for k in bucket.list("clips/")} == mtimes
    assert db[VIDEOS].count_documents({}) == len(src.ids)


def test_invalid_ids_never_reach_ytdlp_or_the_ledger(acq_settings, db, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("yt-dlp was called")

    monkeypatch.setattr(fetch, "download", forbidden)
    report = Acquirer(acq_settings, db=db).run(["../../etc/pw", "abc", "x" * 11 + ";rm"])
    assert [o.outcome for o in report.videos] == ["failed"] * 3
    assert all("is not 11 characters" in o.error for o in report.videos)
    assert db[VIDEOS].count_documents({}) == 0


def test_a_clip_already_in_the_bucket_is_adopted_not_fetched(acq_settings, db, source, tmp_path):
    src, server = source
    vid = src.ids[1]
    register(db, vid)
    before = server.hits[f"/{vid}.mp4"]
    clip = tmp_path / "c.mp4"
    subprocess.run(["cp", str(src.videos_dir / f"{vid}.mp4"), str(clip)], check=True)
    LocalBucket(acq_settings.bucket_uri()).upload(clip, clip_key(vid))
    outcome = Acquirer(acq_settings, db=db).run([vid]).videos[0]
    assert outcome.state == "stored"
    assert server.hits[f"/{vid}.mp4"] == before


def test_acquires_into_gcs(acq_settings, db, source, gcs_endpoint, tmp_path):
    from actionlens.store.storage import GCSBucket

    vid = source[0].ids[0]
    register(db, vid)
    gcs = acq_settings.model_copy(
        update={"bucket": "gs://actionlens-test/acquire", "gcs_endpoint": gcs_endpoint}
    )
    outcome = Acquirer(gcs, db=db).run([vid]).videos[0]
    assert outcome.state == "stored", outcome.error
    assert outcome.clip["uri"] == f"gs://actionlens-test/acquire/clips/{vid}.mp4"
    bucket = GCSBucket("gs://actionlens-test/acquire", endpoint=gcs_endpoint)
    assert probe(bucket.download(clip_key(vid), tmp_path / "g.mp4")).video_codec == "h264"


def test_plan_reports_skipped_manifest_rows(acq_settings, db, tmp_path):
    manifest = Path(acq_settings.acquire.manifest).read_text() + "bad,row\nshortid,A,B,1,1\n"
    path = tmp_path / "m.csv"
    path.write_text(manifest)
    s = acq_settings.model_copy(
        update={"acquire": acq_settings.acquire.model_copy(update={"manifest": str(path)})}
    )
    result = plan(s, budget=1)
    assert result.selected == 1 and result.skipped["bad_video_id"] == 1
    assert result.skipped["missing_value"] == 1


def test_plan_reads_the_manifest_and_transcripts_from_gcs(acq_settings, db, gcs_endpoint):
    from actionlens.store.storage import GCSBucket

    bucket = GCSBucket("gs://actionlens-test/howto100m", endpoint=gcs_endpoint)
    cfg = acq_settings.acquire
    for local in (cfg.manifest, cfg.task_ids, cfg.transcripts):
        bucket.upload(Path(local), Path(local).name)
    s = acq_settings.model_copy(
        update={
            "gcs_endpoint": gcs_endpoint,
            "acquire": cfg.model_copy(
                update={
                    "manifest": "gs://actionlens-test/howto100m/HowTo100M_v1.csv",
                    "task_ids": "gs://actionlens-test/howto100m/task_ids.csv",
                    "transcripts": "gs://actionlens-test/howto100m/raw_caption.json",
                }
            ),
        }
    )
    result = plan(s)
    assert result.selected == 2 and result.transcripts == 2
    doc = db[VIDEOS].find_one({"state": "pending"})
    assert doc["task_name"] and doc["transcript"]["segments"]
