"""The harness itself: a kill point kills where it says and leaves its marker first, and
the snapshot diff sees each kind of loss a fault can cause (and ignores times, attempt
counters and lease bookkeeping, which differ between two correct runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

from fault_harness import KILLPOINT_DIR, KillPoint, bucket_state, diff, normalise

SCRIPT = """
import json, os, subprocess, sys
for i in range(3):
    print(json.dumps({"i": i}), flush=True)
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('FAULT_POINT'))"],
                       capture_output=True, text=True)
print("child", child.stdout.strip(), flush=True)
"""


def run_armed(tmp_path, point: KillPoint) -> tuple[subprocess.CompletedProcess, list[dict]]:
    from dataclasses import asdict

    marker = tmp_path / "marker.jsonl"
    spec = {**asdict(point), "marker": str(marker), "release": str(tmp_path / "go")}
    env = {"PYTHONPATH": str(KILLPOINT_DIR), "FAULT_POINT": json.dumps(spec), "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    lines = marker.read_text().splitlines() if marker.exists() else []
    return done, [json.loads(line) for line in lines]


def test_a_kill_point_marks_then_kills_on_its_nth_call(tmp_path):
    done, markers = run_armed(tmp_path, KillPoint("json:dumps", nth=2))
    assert done.returncode == -9
    assert done.stdout.split() == ['{"i":', "0}"]  # the second call never returned
    assert [(m["target"], m["call"]) for m in markers] == [("json:dumps", 2)]


def test_after_kills_once_the_call_returned_and_children_run_unarmed(tmp_path):
    done, markers = run_armed(tmp_path, KillPoint("json:dumps", nth=9))
    assert done.returncode == 0 and markers == []  # never reached: no marker, no kill
    assert done.stdout.splitlines()[-1] == "child None"  # FAULT_POINT not inherited
    done, markers = run_armed(tmp_path, KillPoint("json:dumps", nth=1, when="after"))
    assert done.returncode == -9 and markers[0]["when"] == "after"


def test_a_match_selects_the_calls_that_count(tmp_path):
    done, markers = run_armed(tmp_path, KillPoint("json:dumps", match="'i': 2"))
    assert done.returncode == -9
    assert len(done.stdout.splitlines()) == 2 and markers[0]["call"] == 1


def test_times_attempts_and_leases_are_not_state():
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    a = {"_id": "v", "state": "stored", "attempts": 1, "updated_at": t1, "stages": {"at": t1}}
    b = {"_id": "v", "state": "stored", "attempts": 2, "updated_at": t2, "stages": {"at": t2}}
    b["lease"] = {"holder": "host:1", "until": t2}
    assert diff(normalise(a), normalise(b)) == []
    assert normalise({"x": 0.12345671}) == normalise({"x": 0.12345674})


def test_the_diff_names_what_was_lost_or_left_behind():
    clean = {
        "mongo": {
            "nodes": {"n1": {"start": 0.0, "end": 1.5}, "n2": {"start": 1.5, "end": 4.0}},
            "scores": {"r": {"semantic": 0.8}},
            "videos": {"v": {"state": "stored"}},
        },
        "bucket": {"clips/v.mp4": {"size": 10, "sha256": "a"}},
        "warehouse": {"raw.raw_nodes": ['["n1"]', '["n2"]']},
        "tmp": [],
        "processes": [],
    }
    got = json.loads(json.dumps(clean))
    del got["mongo"]["nodes"]["n2"]
    got["mongo"]["nodes"]["n1"]["end"] = 1.6
    got["mongo"]["scores"]["r"]["semantic"] = 0.7
    got["mongo"]["videos"]["v"]["state"] = "downloading"
    got["bucket"]["clips/.v.mp4.x.part"] = {"size": 5, "sha256": "b"}
    got["warehouse"]["raw.raw_nodes"] = ['["n1"]', '["n1"]']
    got["tmp"] = ["actionlens-w12-v-abc"]
    got["processes"] = ["77: ffmpeg -i /tmp/x"]
    found = diff(clean, got)
    assert "missing /mongo/nodes/n2" in found
    assert "changed /mongo/nodes/n1/end: 1.5 -> 1.6" in found
    assert "changed /mongo/scores/r/semantic: 0.8 -> 0.7" in found
    assert 'changed /mongo/videos/v/state: "stored" -> "downloading"' in found
    assert any(line.startswith("stray /bucket/clips/.v.mp4.x.part") for line in found)
    assert 'missing row /warehouse/raw.raw_nodes: ["n2"]' in found
    assert "stray /tmp: actionlens-w12-v-abc" in found
    assert "stray /processes: 77: ffmpeg -i /tmp/x" in found
    assert 'stray row /warehouse/raw.raw_nodes: ["n1"]' in found  # loaded twice
    assert len(found) == 9


def test_the_bucket_listing_includes_hidden_partial_files(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "v.mp4").write_bytes(b"clip")
    (tmp_path / "clips" / ".v.mp4.abc.part").write_bytes(b"cl")
    assert sorted(bucket_state(tmp_path)) == ["clips/.v.mp4.abc.part", "clips/v.mp4"]
