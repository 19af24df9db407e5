"""The confidence dashboard: page rendering, 401 without login, and real charts in
headless Chromium against a running api-server."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actionlens.dashboard.page import fiftyone_sample_url, gather, render

MARTS = [
    "create schema if not exists analytics",
    """create or replace table analytics.fct_node_agreement as
       select 'gpt__qwen3vl' as pair_name, f as field, (i % 10) / 10.0 + 0.05 as semantic,
              case when i = 0 then 'zh' else 'en' end as language_a, 'en' as language_b,
              i = 0 as is_language_uncovered
       from range(40) t(i), (values ('summary_brief'), ('action_actor')) v(f)""",
    """create or replace table analytics.fct_video_confidence as select * from (values
       ('aaaaaaaaaaa', 'Make pancakes', 0.2, 0.1, 'triple_disagreement'),
       ('bbbbbbbbbbb', 'Fix a bike', 0.9, 0.7, 'qwen_agrees,molmo_agrees,triple_agreement'),
       ('ccccccccccc', 'Grow basil', 0.7, 0.2, 'qwen_agrees,qwen_only'))
       t(video_id, title, confidence_semantic, confidence_lexical, tags)""",
    """create or replace table analytics.fct_daily_confidence_trend as select * from (values
       (date '2026-11-20', 'gpt__qwen3vl', 0.6, 10), (date '2026-11-21', 'gpt__qwen3vl', 0.7, 12),
       (date '2026-11-21', 'gpt__molmo2', 0.4, 12)) t(score_date, pair_name, mean_semantic, n_scores)""",
]


@pytest.fixture
def marts(settings):
    import duckdb

    con = duckdb.connect(str(settings.path(settings.duckdb_path)))
    for sql in MARTS:
        con.execute(sql)
    con.close()
    return settings


def test_gather_reads_every_section(marts):
    data = gather(marts)
    assert sum(data["histograms"]["gpt__qwen3vl · summary_brief"]) == 40
    assert data["tags"]["qwen_agrees"] == 2
    assert "root node's summary_detailed" in data["confidence_meaning"]
    assert [v["video_id"] for v in data["least_trusted"]][0] == "aaaaaaaaaaa"
    assert set(data["trend"]) == {"gpt__qwen3vl", "gpt__molmo2"}
    html = render(data)
    assert html.count('class="bar"') == 2 * 10 + len(data["tags"])
    assert 'href="videos/aaaaaaaaaaa/fiftyone"' in html
    assert data["n_uncovered"] == 2
    assert data["uncovered"] == [{"languages": "zh / en", "pair_name": "gpt__qwen3vl", "n": 2}]
    assert 'id="uncovered-languages"' in html and "<td>zh / en</td>" in html
    assert 'id="confidence-meaning"' in html


def test_sample_links_come_from_the_published_samples(marts):
    assert fiftyone_sample_url(marts, "aaaaaaaaaaa") is None  # nothing published yet
    _publish_links(marts, {"aaaaaaaaaaa": "65f0c0ffee0000000000000a"})
    assert fiftyone_sample_url(marts, "aaaaaaaaaaa") == (
        "http://127.0.0.1:5151/datasets/actionlens?id=65f0c0ffee0000000000000a"
    )
    assert fiftyone_sample_url(marts, "bbbbbbbbbbb") is None


def _publish_links(settings, sample_ids: dict[str, str]) -> None:
    """What publish-fiftyone records, without running FiftyOne."""
    from actionlens.publish.dataset import record_samples

    assert record_samples(settings, "actionlens", list(sample_ids), sample_ids) == len(sample_ids)


def test_empty_warehouse_renders_placeholders(settings):
    html = render(gather(settings))
    assert "No agreement rows yet" in html and "No tags yet" in html
    assert "Every scored pair is in a language the sentence model reads" in html


def _free_port() -> int:
    from actionlens.store.embedded import free_port

    return free_port()


def _wait_http(url: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise TimeoutError(url)


@contextlib.contextmanager
def _serving(argv: list[str], env: dict[str, str], log_path: Path, ready_url: str, seconds: float):
    """A server process in its own session, output to `log_path`; inside the block it
    answers `ready_url`; after it, its whole process group is terminated."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_http(ready_url, seconds)
            yield proc
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


@pytest.fixture
def api_server(marts, airflow_db, tmp_path):
    """`airflow api-server` on a free port, with one known user."""
    from actionlens.settings import environment_for

    _publish_links(marts, {"aaaaaaaaaaa": "65f0c0ffee0000000000000a"})
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "dashboard-test"}))
    port = _free_port()
    env = {
        **os.environ,
        **environment_for(marts),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
    }
    with _serving(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--workers", "1"],
        env,
        tmp_path / "api.log",
        f"http://127.0.0.1:{port}/api/v2/monitor/health",
        120,
    ):
        yield f"http://127.0.0.1:{port}"


class Chromium:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, binary: str, tmp: Path):
        import httpx

        port = _free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                # Nothing but the page under test: no update, sync or field-trial traffic.
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={tmp}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_http(f"http://127.0.0.1:{port}/json/version", 60)
        page = next(
            t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"
        )
        import websocket

        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                return msg.get("result", {})

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def close(self):
        self.ws.close()
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.airflow
def test_dashboard_needs_login_and_renders_charts_in_chromium(
    api_server, chromium_binary, tmp_path
):
    import httpx

    binary = chromium_binary
    assert httpx.get(f"{api_server}/confidence/").status_code == 401
    token = httpx.post(
        f"{api_server}/auth/token", json={"username": "admin", "password": "dashboard-test"}
    ).json()["access_token"]
    assert (
        httpx.get(
            f"{api_server}/confidence/", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )

    # Least-trusted links redirect to the video's sample in the FiftyOne App.
    auth = {"Authorization": f"Bearer {token}"}
    link = f"{api_server}/confidence/videos/aaaaaaaaaaa/fiftyone"
    assert httpx.get(link).status_code == 401
    found = httpx.get(link, headers=auth)
    assert found.status_code == 307
    assert found.headers["location"] == (
        "http://127.0.0.1:5151/datasets/actionlens?id=65f0c0ffee0000000000000a"
    )
    missing = httpx.get(link.replace("aaaaaaaaaaa", "zzzzzzzzzzz"), headers=auth)
    assert missing.status_code == 404 and "not published" in missing.json()["detail"]
    bad = httpx.get(f"{api_server}/confidence/videos/x/fiftyone", headers=auth)
    assert bad.status_code == 400 and "11 characters" in bad.json()["detail"]

    browser = Chromium(binary, tmp_path / "chromium")
    try:
        browser.call("Network.enable")
        browser.call("Network.setCookie", name="_token", value=token, url=api_server)
        browser.call("Page.enable")
        browser.call("Page.navigate", url=f"{api_server}/confidence/")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and browser.evaluate("document.readyState") != "complete":
            time.sleep(0.2)
        counts = browser.evaluate("""JSON.stringify({
            bars: document.querySelectorAll('#distributions rect.bar').length,
            tags: document.querySelectorAll('#tags rect.bar').length,
            points: document.querySelectorAll('#trend circle.point').length,
            rows: document.querySelectorAll('#least-trusted tr').length - 1,
            heights: [...document.querySelectorAll('#distributions rect.bar')]
                .filter(r => r.getBoundingClientRect().height > 0).length,
            link: document.querySelector('#least-trusted a').href})""")
    finally:
        browser.close()
    counts = json.loads(counts)
    assert counts["link"] == f"{api_server}/confidence/videos/aaaaaaaaaaa/fiftyone"
    assert counts["bars"] == 20 and counts["heights"] > 0
    assert counts["tags"] == 5 and counts["points"] == 3 and counts["rows"] == 3


def test_confidence_summary_command(marts, monkeypatch, capsys):
    from actionlens import cli

    monkeypatch.setattr("actionlens.settings.get_settings", lambda: marts)
    _publish_links(marts, {"aaaaaaaaaaa": "65f0c0ffee0000000000000a"})
    assert cli.main(["confidence-summary"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["videos"] == 3 and out["least_trusted"][0]["video_id"] == "aaaaaaaaaaa"
    assert out["tags"] == {
        "qwen_agrees": 2,
        "triple_disagreement": 1,
        "molmo_agrees": 1,
        "triple_agreement": 1,
        "qwen_only": 1,
    }
    assert "workshop's two opinion models" in out["confidence"]
    assert [v["fiftyone_sample_url"] for v in out["least_trusted"]] == [
        "http://127.0.0.1:5151/datasets/actionlens?id=65f0c0ffee0000000000000a",
        None,
        None,
    ]
    assert out["dashboard_url"].endswith("/confidence/")


@pytest.mark.integration
@pytest.mark.airflow
def test_page_keeps_answering_with_the_last_snapshot_while_a_build_holds_the_warehouse(
    api_server, marts
):
    """DuckDB refuses even a read-only open while another process writes: the page reads
    the snapshot published after the last build, so a running build never fails it."""
    import httpx

    from actionlens.warehouse.snapshot import publish_snapshot
    from test_warehouse_snapshot import Holder

    publish_snapshot(marts)
    token = httpx.post(
        f"{api_server}/auth/token", json={"username": "admin", "password": "dashboard-test"}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    # A build in another process: it rewrites the marts and holds the file's write lock.
    with Holder(
        marts.path(marts.duckdb_path),
        "delete from analytics.fct_video_confidence; delete from raw.raw_fiftyone_samples",
    ):
        page = httpx.get(f"{api_server}/confidence/", headers=auth, timeout=30)
        data = httpx.get(f"{api_server}/confidence/data", headers=auth, timeout=30).json()
        link = httpx.get(f"{api_server}/confidence/videos/aaaaaaaaaaa/fiftyone", headers=auth)
    assert page.status_code == 200
    assert "3 videos scored" in page.text and "aaaaaaaaaaa" in page.text
    assert 'id="freshness"' in page.text and "snapshot published at" in page.text
    assert data["n_videos"] == 3 and data["freshness"]["source"] == "snapshot"
    assert data["freshness"]["built_at"] and data["freshness"]["failed_at"] is None
    assert link.status_code == 307 and link.headers["location"].endswith(
        "?id=65f0c0ffee0000000000000a"
    )
