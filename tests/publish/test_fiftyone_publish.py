"""FiftyOne publication, run as the CLI step in a subprocess (fiftyone cannot share a
process with Airflow), checked through FiftyOne itself in another subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime

import pytest

from actionlens.agreement.score import FIELDS, score_videos
from actionlens.dashboard.page import fiftyone_sample_url
from actionlens.publish.dataset import (
    detection_fields,
    ensure_reference_roots,
    root_answers,
    tiers,
    transcript_detections,
    upload_datetime,
    workshop_fields,
    workshop_values,
)
from actionlens.reference.action100m import import_files
from actionlens.settings import Settings, environment_for
from actionlens.testing.action100m import add_opinions, make_record, write_parquet
from actionlens.warehouse.query import query
from test_agreement_scores import fake_embedder

IDS = ["fofofofofo1", "fofofofofo2"]


def _gpt(summary: tuple[str, str], action: tuple[str, str, str]) -> dict:
    return {
        "gpt": {
            "summary": dict(zip(("brief", "detailed"), summary, strict=True)),
            "action": dict(zip(("brief", "detailed", "actor"), action, strict=True)),
        }
    }


NODES = [
    {
        "_id": "r",
        "parent_id": None,
        "level": 0,
        "start": 0.0,
        "end": 8.0,
        "annotations": _gpt(("s", "d"), ("N/A", "N/A", "N/A")),
        "captions": {"plm": "a video"},
        "actions": {"plm": "cook"},
    },
    {
        "_id": "a",
        "parent_id": "r",
        "level": 1,
        "start": 0.0,
        "end": 3.0,
        "captions": {"llama3": "x"},
    },
    {
        "_id": "b",
        "parent_id": "r",
        "level": 1,
        "start": 3.0,
        "end": 8.0,
        "annotations": _gpt(("sb", "db"), ("cut wood", "Cut the wood.", "a man")),
    },
]
# What our own captioner stores (stage 2), keyed by its model id.
OURS = {
    "_id": "c",
    "parent_id": None,
    "level": 0,
    "start": 0.0,
    "end": 2.0,
    "captions": {
        "Qwen__Qwen3-VL-4B": {
            "video": {"text": "a pan on a stove", "prompt_version": "v1"},
            "frame": {"text": "a pan", "prompt_version": "v1"},
        }
    },
}


def test_our_captioners_entries_become_string_labels_under_safe_field_names():
    fields = detection_fields([OURS])
    assert set(fields) == {"qwen_qwen3_vl_4b_caption", "qwen_qwen3_vl_4b_frame_caption"}
    assert fields["qwen_qwen3_vl_4b_caption"][0]["label"] == "a pan on a stove"
    assert fields["qwen_qwen3_vl_4b_frame_caption"][0]["label"] == "a pan"


def test_tiers_and_detection_fields_follow_the_public_dataset_names():
    assert tiers(NODES) == {"r": "root", "a": "leaf", "b": "leaf"}
    fields = detection_fields(NODES)
    assert set(fields) == {
        "gpt_summary_brief",
        "gpt_summary_detailed",
        "gpt_action_brief",
        "gpt_action_detailed",
        "gpt_action_actor",
        "plm_caption",
        "plm_action",
        "llama3_caption",
    }
    # "N/A" actions are left out of the action fields, as in the public dataset, except
    # on the root: the notebook hoists exactly one root label per sample.
    assert [d["node_id"] for d in fields["gpt_summary_brief"]] == ["r", "b"]
    assert [(d["node_id"], d["label"]) for d in fields["gpt_action_brief"]] == [
        ("r", "N/A"),
        ("b", "cut wood"),
    ]
    det = fields["gpt_action_actor"][1]
    assert (det["label"], det["node_id"], det["tier"], det["level"]) == ("a man", "b", "leaf", 1)
    assert fields["llama3_caption"][0]["parent_id"] == "r"
    mid_na = {**NODES[2], "annotations": _gpt(("s", "d"), ("N/A", "N/A", "N/A"))}
    assert "gpt_action_brief" not in detection_fields([mid_na])


def test_every_sample_gets_one_root_detection_per_reference_field():
    fields = ensure_reference_roots(detection_fields([NODES[2]]), "gpt", 8.0)
    for field in FIELDS:
        roots = [d for d in fields[f"gpt_{field}"] if d["tier"] == "root"]
        assert len(roots) == 1 and roots[0]["label"] is None and roots[0]["missing"]
    present = detection_fields(NODES)
    assert ensure_reference_roots(dict(present), "gpt", 8.0) == present


def _opinion(detailed: str, actor: str = "N/A") -> dict:
    return {
        "summary": {"brief": "b", "detailed": detailed},
        "action": {"brief": "N/A", "detailed": "N/A", "actor": actor},
    }


def test_opinion_detections_get_node_names_that_never_collide_with_the_flat_fields():
    nodes = [{**NODES[0], "annotations": {**NODES[0]["annotations"], "qwen3vl": _opinion("q")}}]
    fields = detection_fields(nodes, opinion_sources={"qwen3vl", "molmo2"})
    assert "qwen3vl_nodes_summary_detailed" in fields and "gpt_summary_detailed" in fields
    assert not set(fields) & set(workshop_fields())
    assert fields["qwen3vl_nodes_summary_detailed"][0]["label"] == "q"


def test_flat_fields_are_the_opinions_root_answers_on_the_reference_tree():
    nodes = [
        # Our own tree's root (no reference) sorts after the reference tree's root.
        {"_id": "p", "parent_id": None, "segmenter": "a-pixels",
         "annotations": {"ours": _opinion("o"), "qwen3vl": _opinion("other tree")}},
        {"_id": "r", "parent_id": None, "segmenter": "action100m",
         "annotations": {"gpt": _opinion("g"), "qwen3vl": _opinion("whole clip", "a cook"),
                         "molmo2": {"status": "failed", "raw": "not json"}}},
        {"_id": "m", "parent_id": "r", "annotations": {"qwen3vl": _opinion("a part")}},
    ]  # fmt: skip
    assert root_answers(nodes, "qwen3vl", "gpt")["summary_detailed"] == "whole clip"
    values = workshop_values(nodes, Settings())
    assert set(values) == set(workshop_fields())
    assert values["qwen3vl_summary_detailed"] == "whole clip"
    assert values["qwen3vl_action_actor"] == "a cook" and values["qwen3vl_action_brief"] == "N/A"
    # A failed opinion is no answer: the notebook reads None, not its raw text.
    assert values["molmo_summary_detailed"] is None


def test_public_metadata_types():
    assert upload_datetime("20190407") == datetime(2019, 4, 7)
    assert upload_datetime(None) is None and upload_datetime("April 2019") is None
    video = {
        "transcript": {
            "segments": [
                {"start": 1.0, "end": 4.0, "text": "first we heat the pan"},
                {"start": 88.0, "end": 95.0, "text": "past the cut"},
                {"start": 91.0, "end": 93.0, "text": "after the clip"},
                {"start": 5.0, "end": 6.0, "text": ""},
            ]
        }
    }
    assert [d["label"] for d in transcript_detections(video, 90.0)] == [
        "first we heat the pan",
        "past the cut",
    ]
    assert transcript_detections({}, 90.0) == []


def _run(code_or_args, settings, *, module=True):
    env = {**os.environ, **environment_for(settings)}
    env.pop("AIRFLOW_HOME", None)
    cmd = (
        [sys.executable, "-m", "actionlens", *code_or_args]
        if module
        else [sys.executable, "-c", code_or_args]
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _links(settings) -> dict[str, tuple[str, str]]:
    rows = query(
        settings,
        "select video_id, dataset, sample_id from {schema}.raw_fiftyone_samples",
        schema="raw",
    )
    assert len(rows) == len({r["video_id"] for r in rows})
    return {r["video_id"]: (r["dataset"], r["sample_id"]) for r in rows}


OLD_SCHEMA = """
import json, os
from actionlens.settings import get_settings
from actionlens.store.mongo import mongo_uri
s = get_settings()
os.environ["FIFTYONE_DATABASE_URI"] = mongo_uri(s)
import fiftyone as fo
ds = fo.Dataset(s.fiftyone.dataset, persistent=True)
ds.add_sample(fo.Sample(filepath="/nowhere/old.mp4", video_id="oldoldold01",
    qwen3vl_summary_brief=fo.TemporalDetections(detections=[fo.TemporalDetection(label="x", support=[1, 2])])))
ds.delete_samples(ds)  # the field stays in the schema
print(json.dumps({"old_type": type(ds.get_field("qwen3vl_summary_brief")).__name__}))
"""

INSPECT = """
import json, os
from actionlens.settings import get_settings
from actionlens.store.mongo import mongo_uri
s = get_settings()
os.environ["FIFTYONE_DATABASE_URI"] = mongo_uri(s)
import fiftyone as fo
ds = fo.load_dataset(s.fiftyone.dataset)
out = {}
ids = {}
for sample in ds:
    ids[sample["video_id"]] = sample.id
    dets = sample["gpt_summary_brief"].detections
    root = next(d for d in dets if d["tier"] == "root")
    out[sample["video_id"]] = {
        "tags": sorted(sample.tags), "n": len(dets), "root_support": list(root.support),
        "root_level": root["level"], "fields": sorted(k for k in sample.field_names),
        "confidence": sample["confidence_semantic"],
        "public": {k: str(sample[k]) for k in ("full_video_url", "upload_date", "view_count",
                   "full_video_duration", "tree_depth")},
        "transcript": sample["transcript"], "n_transcript": len(sample["transcript_segments"].detections),
        "action_labels": [d.label for d in sample["gpt_action_brief"].detections],
        "flat": {k: sample[k] for k in ("qwen3vl_summary_detailed", "molmo_action_actor")},
        "types": {k: type(ds.get_field(k)).__name__ for k in ("qwen3vl_summary_brief",
                  "molmo_summary_brief", "qwen3vl_nodes_summary_brief")},
    }
n = len(ds)
if os.environ.get("DROP"):
    ds.delete()
print(json.dumps({"samples": n, "videos": out, "sample_ids": ids}))
"""


@pytest.mark.integration
def test_publish_writes_one_sample_per_video_and_reruns_replace(settings, db, tmp_path):
    import duckdb

    cfg = settings.model_copy(
        update={
            "fiftyone": settings.fiftyone.model_copy(
                update={"dataset": f"t_{uuid.uuid4().hex[:10]}"}
            )
        }
    )
    records = [make_record(v, duration=30.0) for v in IDS]
    import_files(cfg, [str(write_parquet(records, tmp_path / "a.parquet"))])
    add_opinions(db, {"qwen3vl": 0.9, "molmo2": 0.1})
    score_videos(cfg, IDS, embedder=fake_embedder())
    con = duckdb.connect(str(cfg.path(cfg.duckdb_path)))
    con.execute("create schema analytics")
    con.execute(
        "create table analytics.fct_video_confidence as select * from (values "
        f"('{IDS[0]}', 0.8, 0.7, 'qwen_agrees,qwen_only'), ('{IDS[1]}', 0.2, 0.1, '')) "
        "t(video_id, confidence_semantic, confidence_lexical, tags)"
    )
    con.close()

    # A dataset published before the flat fields existed held opinion detections there.
    assert _run(OLD_SCHEMA, cfg, module=False) == {"old_type": "EmbeddedDocumentField"}
    first = _run(["publish-fiftyone"], cfg)
    links_first = _links(cfg)
    again = _run(["publish-fiftyone", "--videos", IDS[0]], cfg)
    assert (first["samples"], again["samples"], again["replaced"], again["total_samples"]) == (
        2,
        1,
        1,
        2,
    )
    assert (first["links_recorded"], again["links_recorded"]) == (2, 1)

    os.environ["DROP"] = "1"
    try:
        seen = _run(INSPECT, cfg, module=False)
    finally:
        del os.environ["DROP"]
    assert seen["samples"] == 2
    # The warehouse names each video's current sample: republishing IDS[0] gave it a new
    # sample (and a new link), IDS[1]'s link is untouched, and nothing is duplicated.
    links = _links(cfg)
    assert links == {v: (cfg.fiftyone.dataset, seen["sample_ids"][v]) for v in IDS}
    assert links[IDS[0]] != links_first[IDS[0]] and links[IDS[1]] == links_first[IDS[1]]
    app = cfg.fiftyone.app_url
    assert fiftyone_sample_url(cfg, IDS[1]) == (
        f"{app}/datasets/{cfg.fiftyone.dataset}?id={seen['sample_ids'][IDS[1]]}"
    )
    v0 = seen["videos"][IDS[0]]
    assert v0["tags"] == ["qwen_agrees", "qwen_only"] and v0["confidence"] == 0.8
    assert seen["videos"][IDS[1]]["tags"] == []
    assert v0["root_level"] == 0 and v0["root_support"] == [1, 900]  # 30 s at 30 fps
    n_gpt = sum(1 for n in records[0]["nodes"] if n["gpt"])
    assert v0["n"] == n_gpt
    actions = [
        n["gpt"]["action"]["brief"]
        for n in records[0]["nodes"]
        if n["gpt"] and (n["parent_id"] is None or n["gpt"]["action"]["brief"] != "N/A")
    ]
    assert sorted(v0["action_labels"]) == sorted(actions)
    # The public dataset's metadata fields, with its types.
    assert v0["public"] == {
        "full_video_url": f"https://www.youtube.com/watch?v={IDS[0]}",
        "upload_date": "2019-03-14 00:00:00",
        "view_count": str(records[0]["metadata"]["view_count"]),
        "full_video_duration": "30.0",
        "tree_depth": str(max(n["level"] for n in records[0]["nodes"])),
    }
    assert (
        v0["transcript"].split()[:3] == records[0]["metadata"]["transcript"][0]["text"].split()[:3]
    )
    assert v0["n_transcript"] == 6
    root = db.nodes.find_one({"video_id": IDS[0], "parent_id": None})
    assert v0["flat"] == {
        "qwen3vl_summary_detailed": root["annotations"]["qwen3vl"]["summary"]["detailed"],
        "molmo_action_actor": root["annotations"]["molmo2"]["action"]["actor"],
    }
    assert v0["types"] == {
        "qwen3vl_summary_brief": "StringField",
        "molmo_summary_brief": "StringField",
        "qwen3vl_nodes_summary_brief": "EmbeddedDocumentField",
    }
    assert {
        "qwen3vl_action_actor",
        "molmo_summary_brief",
        "molmo2_nodes_summary_brief",
        "plm_caption",
        "llama3_caption",
        "agreement_gpt_qwen3vl_summary_brief_semantic",
        "transcript_segments",
        "like_count",
    } <= set(v0["fields"])
