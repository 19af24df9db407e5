"""The DuckDB warehouse under concurrent use: a held lock names its holder, the marts
snapshot outlives writers, and a failed build keeps the last good snapshot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actionlens.dashboard.page import gather, render
from actionlens.warehouse.backends import WarehouseLocked, connect_duckdb
from actionlens.warehouse.snapshot import (
    publish_snapshot,
    read_status,
    record_build_failure,
    snapshot_path,
)
from test_dashboard_plugin import MARTS, _publish_links

MARKER = "actionlens-test-lock-holder"


class Holder:
    """Another process holding the DuckDB file's write lock until closed; `sql` runs in
    it first (a writer changing the marts)."""

    def __init__(self, path, sql: str = ""):
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            f"[con.execute(s) for s in {sql!r}.split(';') if s.strip()]; "
            "print('held', flush=True); sys.stdin.read()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(path), MARKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.release()


def _marts(settings):
    con = connect_duckdb(settings.path(settings.duckdb_path))
    for sql in MARTS:
        con.execute(sql)
    con.close()


def test_a_held_lock_names_the_process_and_what_to_do(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    connect_duckdb(path).close()
    with Holder(path) as holder:
        for read_only in (False, True):
            with pytest.raises(WarehouseLocked) as caught:
                connect_duckdb(path, read_only=read_only)
            message = str(caught.value)
            assert f"held by process {holder.proc.pid}" in message and MARKER in message
            assert "actionlens_warehouse" in message and f"kill {holder.proc.pid}" in message
    connect_duckdb(path).close()  # released: free again


def test_a_loader_meeting_a_held_lock_exits_with_the_holder(settings, monkeypatch, capsys):
    from actionlens import cli

    monkeypatch.setattr("actionlens.settings.get_settings", lambda: settings)
    path = settings.path(settings.duckdb_path)
    connect_duckdb(path).close()
    with Holder(path) as holder:
        assert cli.main(["load-neighbours"]) == 2
    err = capsys.readouterr().err
    assert f"held by process {holder.proc.pid}" in err and "IOException" not in err


def test_the_dashboard_reads_the_snapshot_while_a_writer_holds_the_warehouse(settings):
    _marts(settings)
    _publish_links(settings, {"aaaaaaaaaaa": "65f0c0ffee0000000000000a"})
    published = publish_snapshot(settings)
    assert "analytics.fct_video_confidence" in published["tables"]
    assert "raw.raw_fiftyone_samples" in published["tables"]
    before = gather(settings)
    assert before["n_videos"] == 3 and before["freshness"]["source"] == "snapshot"

    # A build rewrites the marts and holds the file: the page keeps the previous data.
    with Holder(settings.path(settings.duckdb_path), "delete from analytics.fct_video_confidence"):
        during = gather(settings)
        assert during["n_videos"] == 3
        assert during["least_trusted"] == before["least_trusted"]
        assert "unavailable" not in during["freshness"]
    # The next successful build publishes what it made.
    publish_snapshot(settings)
    assert gather(settings)["n_videos"] == 0


def test_without_a_snapshot_a_held_warehouse_is_named_on_the_page(settings):
    _marts(settings)
    with Holder(settings.path(settings.duckdb_path)) as holder:
        data = gather(settings)
    assert data["n_videos"] == 0 and data["freshness"]["source"] == "warehouse"
    assert f"process {holder.proc.pid}" in data["freshness"]["unavailable"]
    assert f"process {holder.proc.pid}" in render(data)


def test_links_refresh_keeps_the_snapshots_marts(settings):
    _marts(settings)
    assert publish_snapshot(settings, marts=False) is None  # no build yet: nothing to refresh
    publish_snapshot(settings)
    built = read_status(settings)["built_at"]
    con = connect_duckdb(settings.path(settings.duckdb_path))
    con.execute("delete from analytics.fct_video_confidence")  # a build half done
    con.close()
    _publish_links(settings, {"bbbbbbbbbbb": "65f0c0ffee0000000000000b"})
    publish_snapshot(settings, marts=False)
    from actionlens.dashboard.page import fiftyone_sample_url

    assert gather(settings)["n_videos"] == 3  # marts of the last build, not the half-done one
    assert fiftyone_sample_url(settings, "bbbbbbbbbbb").endswith("?id=65f0c0ffee0000000000000b")
    assert read_status(settings)["built_at"] == built


def test_a_failed_build_is_shown_beside_the_last_good_data(settings):
    _marts(settings)
    publish_snapshot(settings)
    record_build_failure(settings, "dbt build failed (1 nodes):\n  - data test `between` …")
    data = gather(settings)
    assert data["n_videos"] == 3
    html = render(data)
    assert "The last build failed at" in html and "data test `between`" in html
    assert "shows the last good build" in html
    publish_snapshot(settings)  # the next good build clears it
    assert "The last build failed" not in render(gather(settings))


def test_snapshot_files_are_swapped_not_written_in_place(settings):
    _marts(settings)
    publish_snapshot(settings)
    first = snapshot_path(settings).stat().st_ino
    publish_snapshot(settings)
    assert snapshot_path(settings).stat().st_ino != first  # a new file renamed over it
    leftovers = [p.name for p in snapshot_path(settings).parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []
