"""The bad-input suite: one test per class of hostile or malformed input from the issue-12
campaign. Each ends in a recorded state (ledger, report or stored object) and an error that
names the input (file, row, video or node) and what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from actionlens.acquire import ledger
from actionlens.cli import build_parser, join_dash_values
from actionlens.records import SourceRow, videos_argument
from actionlens.store.mongo import VIDEOS

pytestmark = pytest.mark.integration

DASH = "-dashstart0"


# ---------------------------------------------------------------- ids that start with "-"


def test_a_batch_argument_with_a_dash_leading_id_parses_as_the_batch():
    # The DAGs build one `--videos=<ids>` argument per batch; argparse takes it whole.
    args = build_parser().parse_args(["acquire", videos_argument([DASH, "AUDIOonly00"])])
    assert args.videos == f"{DASH},AUDIOonly00"


def test_a_person_typing_videos_then_a_dash_leading_id_is_understood_too():
    argv = join_dash_values(["acquire", "--videos", f"{DASH},AUDIOonly00"])
    assert build_parser().parse_args(argv).videos == f"{DASH},AUDIOonly00"


def test_the_acquire_command_runs_a_dash_leading_batch_instead_of_exiting_2(settings, db):
    # Both ids are unknown to the ledger: the command must reach them and say so per id.
    env = {
        "ACTIONLENS_HOME": str(settings.home),
        "ACTIONLENS_MONGO_URI": settings.mongo_uri,
        "ACTIONLENS_MONGO_DB": settings.mongo_db,
        "ACTIONLENS_BUCKET": settings.bucket,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "actionlens", "acquire", "--videos", f"{DASH},AUDIOonly00"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = {o["video_id"]: o for o in json.loads(done.stdout)["outcomes"]}
    assert set(outcomes) == {DASH, "AUDIOonly00"}
    assert "plan the run first" in outcomes[DASH]["error"]


def test_an_id_that_keeps_failing_does_not_head_every_nights_first_batch(db):
    from actionlens.acquire.manifest import batches

    videos = db[VIDEOS]
    ids = [DASH, "aaaaaaaaaa1", "bbbbbbbbbb1"]
    ledger.register(
        videos,
        [SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1") for v in ids],
    )
    now = ledger.now_utc()
    # The dash id failed three nights running; the others once.
    for vid, attempts in ((DASH, 3), ("aaaaaaaaaa1", 1), ("bbbbbbbbbb1", 1)):
        videos.update_one(
            {"_id": vid},
            {"$set": {"state": "failed", "attempts": attempts, "next_attempt_at": now}},
        )
    due = ledger.retry_ids(videos, now + timedelta(seconds=1), 5, 3600)
    assert due[-1] == DASH
    assert DASH not in batches(due, 2)[0]


# ---------------------------------------------------------------- a stale mongod.json


def test_mongo_stop_never_signals_a_pid_that_is_not_our_mongod(tmp_path):
    from actionlens.store.embedded import EmbeddedMongo

    root = tmp_path / "mongo"
    root.mkdir()
    # An unrelated process holds the pid a crash left in the file.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / "mongod.json").write_text(json.dumps({"pid": bystander.pid, "port": 1}))
        server = EmbeddedMongo(root)
        assert server.running() is False
        assert server.stop() is False
        time.sleep(0.2)
        assert bystander.poll() is None, "mongo stop killed a process that is not our mongod"
        assert not (root / "mongod.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_mongo_stop_refuses_a_mongod_of_another_data_directory(tmp_path):
    from actionlens.store.embedded import EmbeddedMongo

    other = EmbeddedMongo(tmp_path / "other")
    other.start()
    try:
        state = json.loads(other.state_file.read_text())
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "mongod.json").write_text(json.dumps(state))
        assert EmbeddedMongo(mine).stop() is False
        assert other.running(), "stopped the mongod of another data directory"
    finally:
        assert other.stop() is True
