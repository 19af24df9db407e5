"""Text → video search from the FiftyOne App: the repo's operator
(`@actionlens/search/search_videos`) loaded by a real App server on a free port, listed
and executed from the App page in headless Chromium, ranking with the shipped MiniLM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from actionlens.publish.app import SEARCH_OPERATOR, app_environment
from test_dashboard_plugin import Chromium, _free_port, _serving
from test_lenses_search import TRANSCRIPTS, transcript_index  # noqa: F401 (fixture)

CREATE = """
import json, sys
from actionlens.publish.dataset import _fiftyone
from actionlens.settings import get_settings
s = get_settings()
fo = _fiftyone(s)
rows = json.loads(sys.argv[1])
ds = fo.Dataset(s.fiftyone.dataset, persistent=True)
ds.add_samples([fo.Sample(filepath=f"/clips/{v}.mp4", video_id=v, title=t) for v, t in rows],
               progress=False)
print(json.dumps({"samples": len(ds)}))
"""

DROP = """
from actionlens.publish.dataset import _fiftyone
from actionlens.settings import get_settings
s = get_settings()
fo = _fiftyone(s)
if fo.dataset_exists(s.fiftyone.dataset):
    fo.load_dataset(s.fiftyone.dataset).delete()
"""


def _python(settings, code: str, *args: str) -> None:
    env = {**os.environ, **app_environment(settings)}
    env.pop("AIRFLOW_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def app(settings, db, transcript_index, tmp_path):  # noqa: F811
    """A FiftyOne App server on a free port showing a dataset of the indexed videos."""
    cfg = settings.model_copy(
        update={
            "fiftyone": settings.fiftyone.model_copy(
                update={"dataset": f"t_app_{uuid.uuid4().hex[:10]}"}
            )
        }
    )
    rows = [[vid, title] for vid, (title, _) in TRANSCRIPTS.items()]
    _python(cfg, CREATE, json.dumps(rows))
    port = _free_port()
    env = {**os.environ, **app_environment(cfg)}
    env.pop("AIRFLOW_HOME", None)
    server = ["fiftyone.server.main", "--port", str(port), "--address", "127.0.0.1"]
    try:
        with _serving(
            [sys.executable, "-m", *server],
            env,
            tmp_path / "app.log",
            f"http://127.0.0.1:{port}/",
            180,
        ):
            yield cfg, f"http://127.0.0.1:{port}"
    finally:
        _python(cfg, DROP)


FETCH = """
fetch(%(path)s, {method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify(%(body)s)})
  .then(async r => JSON.stringify({status: r.status, body: await r.text()}))
"""


def _post(chrome: Chromium, path: str, body: dict) -> tuple[int, dict | str]:
    out = chrome.call(
        "Runtime.evaluate",
        expression=FETCH % {"path": json.dumps(path), "body": json.dumps(body)},
        awaitPromise=True,
        returnByValue=True,
    )
    reply = json.loads(out["result"]["value"])
    try:
        return reply["status"], json.loads(reply["body"])
    except json.JSONDecodeError:
        return reply["status"], reply["body"]


@pytest.mark.integration
def test_search_operator_runs_from_the_app_page_in_chromium(app, tmp_path):
    cfg, url = app
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(
            "Debian's chromium is not installed: run `make test` or apt-get install chromium"
        )
    name = cfg.fiftyone.dataset
    chrome = Chromium(binary, tmp_path / "chromium")
    try:
        chrome.call("Page.enable")
        chrome.call("Page.navigate", url=f"{url}/datasets/{name}")
        deadline = time.monotonic() + 120
        while chrome.evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, "the App page did not load"
            time.sleep(0.5)
        # The page's own origin: the App lists the repo's operator for this dataset…
        status, listed = _post(chrome, "/operators", {"dataset_name": name})
        assert status == 200, listed
        uris = {o["uri"] for o in listed["operators"]}
        assert SEARCH_OPERATOR in uris, listed.get("errors")
        # …and runs it: ranked videos, and the App's view set to them in that order.
        body = {
            "operator_uri": SEARCH_OPERATOR,
            "dataset_name": name,
            "view": [],
            "params": {"query": "pour batter", "lens": "transcript", "k": 2},
        }
        status, done = _post(chrome, "/operators/execute", body)
        assert status == 200, done
        assert done.get("error") is None, done
        result = done["result"]
        assert result["video_ids"][0] == "searchVid01" and len(result["video_ids"]) == 2
        assert "Fluffy pancakes" in result["results"].splitlines()[0]
        assert "what is said" in result["searches"]
        set_view = [
            r for r in done["executor"]["requests"] if r["operator_uri"].endswith("set_view")
        ]
        stages = json.dumps(set_view[0]["params"]["view"])
        assert "SelectBy" in stages and stages.index("searchVid01") < stages.index(
            result["video_ids"][1]
        )
        # An empty query fails and names the lenses that can be searched.
        status, failed = _post(
            chrome,
            "/operators/execute",
            {**body, "params": {"query": " ", "lens": "transcript", "k": 2}},
        )
        assert "query is empty" in json.dumps(failed) and "transcript (all-MiniLM-L6-v2" in (
            json.dumps(failed)
        )
    finally:
        chrome.close()
