"""The Action100M importer on generated parquet files: good, broken, rerun, gs://."""

from __future__ import annotations

import copy

import pytest

from actionlens.reference.action100m import check_tree, import_files, transcript_segments
from actionlens.testing.action100m import make_record, write_parquet

GOOD = ["aaaaaaaaaaa", "bbbbbbbbbbb"]


def _good_records():
    first = make_record(GOOD[0], duration=60.0, na_share=1.0)  # every gpt action "N/A"
    second = make_record(GOOD[1], duration=20.0)
    second["metadata"]["transcript"] = []  # empty transcript
    second["metadata"]["description"] = None
    second["nodes"][0]["plm_caption"] = None  # a null caption
    return [first, second]


@pytest.fixture
def good_file(tmp_path):
    return write_parquet(_good_records(), tmp_path / "good.parquet")


def _snapshot(db):
    return (
        sorted(db.videos.find({}, {"created_at": 0, "updated_at": 0}), key=lambda d: d["_id"]),
        sorted(db.nodes.find(), key=lambda d: d["_id"]),
    )


@pytest.mark.integration
def test_import_writes_videos_and_nodes_by_source(settings, db, good_file):
    report = import_files(settings, [str(good_file)]).as_dict()
    records = _good_records()
    assert report["videos"] == 2 and report["videos_with_violations"] == 0
    assert db.nodes.count_documents({}) == sum(len(r["nodes"]) for r in records)

    video = db.videos.find_one({"_id": GOOD[0]})
    assert video["metadata"]["title"] == records[0]["metadata"]["title"]
    assert video["state"] == "pending"
    segs = video["transcript"]["segments"]
    assert segs[0]["start"] == 0.0 and segs[0]["end"] == segs[1]["start"]
    assert db.videos.find_one({"_id": GOOD[1]})["transcript"]["segments"] == []

    root = records[0]["nodes"][0]
    doc = db.nodes.find_one({"_id": root["node_id"]})
    assert doc["video_id"] == GOOD[0] and doc["segmenter"] == "action100m"
    assert doc["parent_id"] is None and doc["level"] == 0 and doc["start"] == 0.0
    assert doc["annotations"]["gpt"]["action"] == {
        "brief": "N/A",
        "detailed": "N/A",
        "actor": "N/A",
    }
    assert doc["captions"]["plm"] == root["plm_caption"] and "llama3" not in doc["captions"]
    leaf = next(n for n in records[0]["nodes"] if n["llama3_caption"])
    leaf_doc = db.nodes.find_one({"_id": leaf["node_id"]})
    assert leaf_doc["captions"]["llama3"] == leaf["llama3_caption"]
    assert "gpt" not in leaf_doc.get("annotations", {})
    assert "plm" not in db.nodes.find_one({"_id": records[1]["nodes"][0]["node_id"]}).get(
        "captions", {}
    )


@pytest.mark.integration
def test_rerun_changes_nothing(settings, db, good_file):
    import_files(settings, [str(good_file)])
    before = _snapshot(db)
    again = import_files(settings, [str(good_file)])
    assert (again.videos_upserted, again.nodes_written) == (0, 0)
    assert _snapshot(db) == before


@pytest.mark.integration
def test_import_keeps_acquisition_fields_and_other_sources(settings, db, good_file):
    db.videos.insert_one(
        {
            "_id": GOOD[0],
            "state": "stored",
            "attempts": 1,
            "clip": {"uri": "clips/x.mp4"},
            "transcript": {
                "source": "howto100m",
                "segments": [{"start": 0, "end": 1, "text": "hi"}],
            },
        }
    )
    root_id = _good_records()[0]["nodes"][0]["node_id"]
    db.nodes.insert_one({"_id": root_id, "annotations": {"qwen3vl": {"summary": {"brief": "x"}}}})
    import_files(settings, [str(good_file)])
    video = db.videos.find_one({"_id": GOOD[0]})
    assert video["state"] == "stored" and video["clip"] == {"uri": "clips/x.mp4"}
    assert video["transcript"]["source"] == "howto100m"
    assert "metadata" in video
    node = db.nodes.find_one({"_id": root_id})
    assert set(node["annotations"]) == {"gpt", "qwen3vl"}


@pytest.mark.integration
def test_broken_trees_are_reported_per_video_without_aborting(settings, db, tmp_path):
    good = make_record("ccccccccccc", duration=30.0)
    broken = make_record("ddddddddddd", duration=30.0)
    broken["nodes"] = broken["nodes"][:-1]  # a parent loses a child
    broken["nodes"][-1]["gpt"] = copy.deepcopy(good["nodes"][0]["gpt"])  # gpt on a leaf
    bad_id = make_record("not-a-valid-id", duration=10.0)
    path = write_parquet([broken, bad_id, good], tmp_path / "broken.parquet")

    report = import_files(settings, [str(path)]).as_dict()
    assert report["videos"] == 2
    assert [s["video_uid"] for s in report["skipped"]] == ["not-a-valid-id"]
    assert set(report["violations"]) == {"ddddddddddd"}
    text = " | ".join(report["violations"]["ddddddddddd"])
    assert "children, expected 2" in text and "leaf" in text and "gpt" in text
    assert db.nodes.count_documents({"video_id": "ccccccccccc"}) == len(good["nodes"])


def test_check_tree_names_each_invariant():
    def node(nid, parent, level, start, end, gpt=None, llama3=None):
        return {
            "node_id": nid,
            "parent_id": parent,
            "level": level,
            "start": start,
            "end": end,
            "gpt": gpt,
            "llama3_caption": llama3,
        }

    gpt = {
        "summary": {"brief": "a", "detailed": "b"},
        "action": {"brief": "N/A", "detailed": "cut", "actor": "N/A"},
    }
    nodes = [
        node("r", None, 1, 0.5, 10.0),
        node("a", "r", 2, 0.5, 4.0, llama3="x"),
        node("b", "r", 1, 4.5, 10.0, gpt=gpt, llama3="y"),
    ]
    problems = " | ".join(check_tree(nodes))
    for expected in (
        "root r has level 1",
        "root r starts at 0.500",
        "level 1 under a level-1",
        "do not tile",
        "node r (9.50 s, not a leaf) has no gpt",
        "leaf b carries a gpt",
        "'N/A' in some",
    ):
        assert expected in problems, expected
    assert check_tree([]) == ["no nodes"]


def test_transcript_entries_end_where_the_next_begins():
    segs = transcript_segments([{"time": "3.5", "text": "b"}, {"time": "0", "text": "a"}], 10)
    assert segs == [
        {"start": 0.0, "end": 3.5, "text": "a"},
        {"start": 3.5, "end": 10.0, "text": "b"},
    ]
    assert transcript_segments(None, 10) == []


@pytest.mark.integration
def test_cli_imports_from_gcs(settings, db, tmp_path, gcs_endpoint, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from actionlens import cli

    path = write_parquet(_good_records(), tmp_path / "part-0.parquet")
    client = storage.Client(
        project="t",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_endpoint},
    )
    client.bucket("actionlens-test").blob("a100m/part-0.parquet").upload_from_filename(str(path))
    local = settings.model_copy(update={"gcs_endpoint": gcs_endpoint})
    monkeypatch.setattr("actionlens.settings.get_settings", lambda: local)
    code = cli.main(["import-action100m", "gs://actionlens-test/a100m/part-0.parquet"])
    assert code == 0
    assert db.videos.count_documents({"metadata": {"$exists": True}}) == 2
