"""`make up` / `make down` / `make demo` pieces that need no running stack: the shared
home settings file, stopping a process family, whole log lines, ffprobe for the App."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from actionlens import demo, devstack
from actionlens.errors import ConfigurationError
from actionlens.settings import Settings


def test_home_settings_file_is_read_by_settings_and_keeps_edits(tmp_path, monkeypatch):
    home = tmp_path / "home"
    path = devstack.write_home_settings(
        home, {"agreement": {"reference_source": "ours", "videos_per_batch": 3}}
    )
    # A person's edit survives the demo writing its defaults again; a forced value wins.
    devstack.write_home_settings(home, {"agreement": {"videos_per_batch": 7}})
    devstack.write_home_settings(
        home, {"agreement": {"videos_per_batch": 1}, "fiftyone": {"dataset": "x"}}, overwrite=False
    )
    monkeypatch.setenv("ACTIONLENS_CONFIG", str(path))
    settings = Settings()
    assert settings.agreement.reference_source == "ours"
    assert settings.agreement.videos_per_batch == 7
    assert settings.fiftyone.dataset == "x"


@pytest.mark.parametrize(
    ("reference", "first_pair"), [("gpt", ("gpt", "qwen3vl")), ("ours", ("ours", "qwen3vl"))]
)
def test_demo_settings_are_valid_settings(tmp_path, monkeypatch, reference, first_pair):
    home = tmp_path / "home"
    path = devstack.write_home_settings(
        home, demo.demo_settings(home, home / "source", reference=reference)
    )
    monkeypatch.setenv("ACTIONLENS_CONFIG", str(path))
    settings = Settings()
    assert settings.home == home and settings.path(settings.duckdb_path).parent == home
    assert settings.agreement.reference_source == reference
    assert settings.agreement.pairs[0] == first_pair
    assert settings.acquire.manifest == str(home / "source" / "HowTo100M_v1.csv")


def _spawn_family(tmp_path):
    """A leader in its own session whose child starts a session of its own (as a task's
    subprocess may), both sleeping."""
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " start_new_session=True);"
        "time.sleep(300)"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 30
    while len(devstack._family(leader.pid)) < 2:
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.1)
    return leader, devstack._family(leader.pid)


def test_stopping_a_component_stops_children_in_other_sessions(tmp_path):
    leader, family = _spawn_family(tmp_path)
    devstack.stop_families([leader.pid], wait_seconds=10)
    leader.wait(timeout=10)
    assert [pid for pid in family if devstack.alive(pid)] == []


def test_down_stops_what_the_pidfiles_name_and_removes_them(tmp_path):
    stack = devstack.Stack(Settings(home=tmp_path / "home", mongo_uri="mongodb://unused"))
    stack.run_dir.mkdir(parents=True)
    leader, family = _spawn_family(tmp_path)
    stack.pidfile("scheduler").write_text(json.dumps({"pid": leader.pid}))
    assert stack.running() == {"scheduler": leader.pid}
    assert stack.down() == ["scheduler"]
    leader.wait(timeout=10)
    assert [pid for pid in family if devstack.alive(pid)] == []
    assert stack.running() == {} and not stack.pidfile("scheduler").exists()


def test_up_refuses_a_home_whose_stack_runs(tmp_path):
    stack = devstack.Stack(Settings(home=tmp_path / "home", mongo_uri="mongodb://unused"))
    stack.run_dir.mkdir(parents=True)
    stack.pidfile("api-server").write_text(json.dumps({"pid": os.getpid()}))
    with pytest.raises(ConfigurationError, match="already runs.*make down"):
        stack.up()
    assert stack.started is False  # so its clean-up leaves the running stack alone


def test_demo_prints_whole_log_lines(tmp_path, capsys):
    line = "ERROR " + " ".join(f"word{i}" for i in range(80))  # ~500 characters
    code = demo._run(
        [sys.executable, "-c", f"print({line!r}); print('quiet line')"],
        dict(os.environ),
        tmp_path / "log",
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == line
    assert "quiet line" in (tmp_path / "log").read_text()


def test_the_app_gets_a_runnable_ffprobe(tmp_path):
    from actionlens.fiftyone_app import app_environment

    env = app_environment(
        Settings(home=tmp_path), "mongodb://127.0.0.1:1/", {"PATH": "/usr/bin:/bin"}
    )
    assert env["FIFTYONE_DATABASE_URI"] == "mongodb://127.0.0.1:1/"
    assert env["FIFTYONE_DO_NOT_TRACK"] == "true"
    ffprobe = os.path.join(env["PATH"].split(os.pathsep)[0], "ffprobe")
    done = subprocess.run([ffprobe, "-version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ffprobe version")
