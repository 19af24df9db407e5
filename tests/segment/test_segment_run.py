"""The segment step against a real mongod and a local bucket: trees, stages, reruns,
a broken clip in the batch, the Action100M export and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from actionlens.runtime import merge_reports
from actionlens.segment import store
from actionlens.segment.run import Segmenter, plan_batches
from actionlens.settings import environment_for
from actionlens.store.mongo import NODES, VIDEOS
from actionlens.store.storage import clip_key, open_bucket, sha256_file
from actionlens.testing.media import Scene, audio_only_clip, render_clip

pytestmark = pytest.mark.integration

GOOD, SHORT, AUDIO = "goodclip001", "shortclip01", "audioonly01"
SCENES = [Scene(2.0, (200, 40, 40)), Scene(1.5, (40, 160, 60)), Scene(2.5, (40, 70, 200))]


@pytest.fixture(scope="module")
def media(tmp_path_factory, ffmpeg):
    root = tmp_path_factory.mktemp("segment-media")
    audio = audio_only_clip(root / "audio.mp4", ffmpeg)
    return {
        GOOD: render_clip(root / "good.mp4", SCENES, ffmpeg=ffmpeg, size=(128, 96)),
        SHORT: render_clip(
            root / "short.mp4", [Scene(0.3, (90, 90, 90))], ffmpeg=ffmpeg, size=(128, 96)
        ),
        AUDIO: audio,
    }


@pytest.fixture
def stored(settings, db, media):
    """The clips in the bucket and `stored` on the ledger, as acquisition leaves them."""
    bucket = open_bucket(settings.bucket_uri())
    for vid, path in media.items():
        info = bucket.upload(path, clip_key(vid))
        db[VIDEOS].insert_one(
            {
                "_id": vid,
                "state": "stored",
                "clip": {"uri": info.uri, "size_bytes": info.size, "sha256": sha256_file(path)},
                "updated_at": datetime.now(UTC),
            }
        )
    return bucket


def test_batch_builds_trees_and_records_stages(settings, db, stored):
    report = Segmenter(settings, db=db, bucket=stored).run([GOOD, SHORT])
    assert [o.outcome for o in report.videos] == ["done", "done"]
    nodes = list(db[NODES].find({"video_id": GOOD}).sort([("order", 1)]))
    assert len(nodes) == report.videos[0].nodes > 1
    root = nodes[0]
    assert root["parent_id"] is None and root["level"] == 0 and root["start"] == 0.0
    assert root["end"] == pytest.approx(6.0, abs=0.05)
    assert {n["segmenter"] for n in nodes} == {report.version}
    assert "baseline-pixels" in report.version
    # The scene cuts at 2.0 s and 3.5 s are node boundaries (±1 sampled frame).
    edges = {n["start"] for n in nodes}
    for cut in (2.0, 3.5):
        assert min(abs(e - cut) for e in edges) <= 4 / 30 + 1e-6
    stage = db[VIDEOS].find_one({"_id": GOOD})["stages"]["segment"]
    assert (
        stage["state"] == "done"
        and stage["segmenter"] == "pixels"
        and stage["version"] == report.version
    )
    assert stage["error"] is None and stage["nodes"] == len(nodes) and stage["at"] is not None
    short = list(db[NODES].find({"video_id": SHORT}))
    assert len(short) == 1 and short[0]["leaf"] and short[0]["end"] == pytest.approx(0.3, abs=0.01)


def test_clip_without_video_stream_fails_and_the_batch_goes_on(settings, db, stored):
    report = Segmenter(settings, db=db, bucket=stored).run([AUDIO, GOOD])
    bad, good = report.videos
    assert (
        bad.outcome == "failed" and "[audioonly01]" in bad.error and "no video stream" in bad.error
    )
    assert good.outcome == "done"
    stage = db[VIDEOS].find_one({"_id": AUDIO})["stages"]["segment"]
    assert stage["state"] == "failed" and "no video stream" in stage["error"]
    assert stage["retryable"] is False and stage["attempts"] == 1
    assert db[NODES].count_documents({"video_id": AUDIO}) == 0


def test_rerun_replaces_the_tree_without_duplicates_and_keeps_captions(settings, db, stored):
    seg = Segmenter(settings, db=db, bucket=stored)
    first = seg.run([GOOD]).videos[0]
    ids = sorted(d["_id"] for d in db[NODES].find({"video_id": GOOD}))
    db[NODES].update_one({"_id": ids[0]}, {"$set": {"captions.ours": "a caption"}})
    # A stale node of the same tree version (e.g. from an older decode) must disappear.
    db[NODES].insert_one(
        {
            "_id": "stale-node",
            "video_id": GOOD,
            "segmenter": seg.version,
            "level": 9,
            "start": 0.0,
            "end": 0.1,
            "frames": [0, 1],
        }
    )
    assert seg.run([GOOD]).videos[0].outcome == "up_to_date", "up to date: not recomputed"
    again = seg.run([GOOD], force=True).videos[0]
    assert again.outcome == "done" and again.nodes == first.nodes
    assert sorted(d["_id"] for d in db[NODES].find({"video_id": GOOD})) == ids
    assert db[NODES].find_one({"_id": ids[0]})["captions"]["ours"] == "a caption"


def test_unknown_and_unstored_videos_are_reported_not_fatal(settings, db, stored):
    db[VIDEOS].insert_one({"_id": "pendingvid1", "state": "pending"})
    report = Segmenter(settings, db=db, bucket=stored).run(
        ["pendingvid1", "notinledger", "bad id!", GOOD]
    )
    assert [o.outcome for o in report.videos] == ["skipped", "failed", "failed", "done"]
    assert "acquire it first" in report.videos[0].error
    assert "not in the ledger" in report.videos[1].error


def test_plan_takes_announced_ids_then_the_backlog(settings, db, stored):
    settings.segment.batch_videos = 2
    Segmenter(settings, db=db, bucket=stored).run([AUDIO])  # final failure: not retried
    batches = plan_batches(settings, [SHORT, "bad id!", SHORT], db=db)
    assert batches == [[SHORT, GOOD]]
    merged = merge_reports(
        [
            {
                "stage": "segment",
                "version": "v",
                "videos": [
                    {"video_id": GOOD, "outcome": "done", "nodes": 5},
                    {"video_id": SHORT, "outcome": "up_to_date", "nodes": 1},
                    {"video_id": AUDIO, "outcome": "failed"},
                ],
            },
            None,
        ],
        "segmented",
    )
    assert merged == {
        "segmented": [GOOD, SHORT],
        "failed": [AUDIO],
        "counts": {"done": 1, "up_to_date": 1, "failed": 1, "batches_lost": 1},
    }


def test_export_follows_the_action100m_node_schema(settings, db, stored):
    Segmenter(settings, db=db, bucket=stored).run([GOOD])
    record = store.export_tree(db, GOOD)
    assert record["video_uid"] == GOOD
    nodes = record["nodes"]
    assert set(nodes[0]) == {
        "node_id",
        "parent_id",
        "level",
        "start",
        "end",
        "plm_action",
        "plm_caption",
        "llama3_caption",
        "gpt",
    }
    assert (
        nodes[0]["parent_id"] is None
        and nodes[0]["plm_caption"] is None
        and nodes[0]["gpt"] is None
    )
    assert [(n["level"], n["start"]) for n in nodes] == sorted(
        (n["level"], n["start"]) for n in nodes
    )
    ids = {n["node_id"] for n in nodes}
    assert all(n["parent_id"] in ids for n in nodes[1:])
    # Later stages' texts land in the Action100M fields, chosen by source.
    note = {
        "summary": {"brief": "b", "detailed": "d"},
        "action": {"brief": "cut", "detailed": "x", "actor": "a"},
    }
    db[NODES].update_one(
        {"_id": nodes[0]["node_id"]},
        {
            "$set": {
                "captions.qwen": {"video": {"text": "a red scene"}, "frame": {"text": None}},
                "annotations.ours": {**note, "status": "ok"},
            }
        },
    )
    root = store.export_tree(db, GOOD, captions="qwen", annotations="ours")["nodes"][0]
    assert (root["plm_caption"], root["llama3_caption"], root["gpt"]) == ("a red scene", None, note)


def test_imported_action100m_texts_map_back_to_their_fields():
    doc = {
        "captions": {"plm": "seg", "llama3": "frame"},
        "actions": {"plm": "stir"},
        "annotations": {"gpt": {"summary": {"brief": "s"}, "action": {"brief": "N/A"}}},
    }
    assert store.node_texts(doc, "plm", "gpt") == {
        "plm_action": "stir",
        "plm_caption": "seg",
        "llama3_caption": "frame",
        "gpt": {"summary": {"brief": "s"}, "action": {"brief": "N/A"}},
    }
    assert set(store.node_texts({}, "plm", "gpt").values()) == {None}


def test_segment_command_runs_end_to_end(settings, db, stored, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONLENS_")}
    env.update(environment_for(settings))
    result = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "actionlens",
            "--result-file",
            str(result),
            "segment",
            "--videos",
            f"{GOOD},{AUDIO}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(result.read_text())
    assert [o["outcome"] for o in report["videos"]] == ["done", "failed"]
    out = tmp_path / "tree.json"
    done = subprocess.run(
        [sys.executable, "-m", "actionlens", "export-tree", "--video", GOOD, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(json.loads(out.read_text())["nodes"]) == report["videos"][0]["nodes"]


def test_vjepa2_backend_segments_a_stored_clip(settings, db, stored):
    import torch
    from transformers import VJEPA2Model

    from actionlens.bench.segment import tiny_vjepa2_config
    from actionlens.segment.embed import VJEPA2Embedder

    torch.manual_seed(0)
    settings.segment.backend = "vjepa2"
    settings.segment.device = "cpu"
    embedder = VJEPA2Embedder(settings.segment, model=VJEPA2Model(tiny_vjepa2_config()))
    report = Segmenter(settings, db=db, bucket=stored, embedder=embedder).run([GOOD, SHORT])
    assert [o.outcome for o in report.videos] == ["done", "done"]
    assert report.segmenter == "vjepa2" and report.version.startswith("vjepa2:")
    assert (
        db[NODES].count_documents(
            {"video_id": GOOD, "segmenter": report.version, "parent_id": None}
        )
        == 1
    )


def test_clip_uris_outside_the_bucket_are_refused():
    from types import SimpleNamespace

    from actionlens.errors import InputError
    from actionlens.store.storage import bucket_key

    gcs = SimpleNamespace(uri="gs://clips-bucket/prod")
    assert (
        bucket_key("gs://clips-bucket/prod/clips/aaaaaaaaaa1.mp4", gcs) == "clips/aaaaaaaaaa1.mp4"
    )
    with pytest.raises(InputError, match="not in the configured bucket"):
        bucket_key("gs://other-bucket/clips/aaaaaaaaaa1.mp4", gcs)
