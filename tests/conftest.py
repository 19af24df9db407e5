"""Shared fixtures: a throwaway mongod, GCS emulator, Airflow home and generated media.

Airflow reads its configuration when first imported, so its environment is set here,
before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

for _name in [n for n in os.environ if n.startswith("ACTIONLENS_")]:
    del os.environ[_name]  # tests build their settings explicitly
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="actionlens-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
)


@pytest.fixture(scope="session")
def mongod(tmp_path_factory):
    """A mongod of our own on a free loopback port; yields its URI."""
    from actionlens.store.embedded import EmbeddedMongo

    server = EmbeddedMongo(tmp_path_factory.mktemp("mongod"))
    uri = server.start()
    yield uri
    server.stop()


@pytest.fixture
def settings(tmp_path, mongod):
    """Settings for one test: its own database, bucket folder and home."""
    from actionlens.testing.stores import throwaway_settings

    return throwaway_settings(tmp_path, mongod)


@pytest.fixture
def db(settings):
    from actionlens.store.mongo import connect

    database = connect(settings)
    yield database
    database.client.drop_database(database.name)


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Debian's Chromium for the browser tests. `make test` installs it where it can (root
    with apt-get, as in CI): there its absence fails the test; for any other user the test
    is skipped with the reason."""
    import shutil

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        return binary
    if os.geteuid() == 0:
        pytest.fail(
            "Debian's chromium is not installed: run `make browser` (apt-get install chromium)"
        )
    pytest.skip(
        "browser test cannot run: no chromium, and this user is not root so `make test` cannot "
        "install it (as root: apt-get install chromium)"
    )


@pytest.fixture(scope="session")
def ffmpeg():
    from actionlens.media import ffmpeg_binary

    return ffmpeg_binary()


@pytest.fixture(scope="session")
def gcs_endpoint():
    """The GCS emulator (gcp-storage-emulator) over real HTTP on loopback.

    It ignores preconditions such as if_generation_match: tests must not take its
    silence as proof that one was enforced.
    """
    from gcp_storage_emulator.server import create_server

    from actionlens.store.embedded import free_port

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="actionlens-test")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def airflow_db():
    """An Airflow metadata database (SQLite) migrated once per session."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


FAKE_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "fake",
    "clusters": [{"name": "fake", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
}


@pytest.fixture
def fake_kubernetes_conn(monkeypatch):
    """A kubernetes connection that parses but points nowhere: pods are built, not run."""
    import json

    conn = {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(FAKE_KUBECONFIG)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    return conn


@pytest.fixture
def dag_env(tmp_path, mongod, monkeypatch):
    """For a `dag.test()` in this process, whose tasks read settings from the environment:
    `use(**extra)` exports a home, database and bucket of this test (plus `extra`
    ACTIONLENS_* variables) and returns (settings, db). The database is dropped after."""
    from actionlens.settings import get_settings
    from actionlens.store.mongo import connect

    used = []

    def use(**extra: str):
        env = {
            "ACTIONLENS_HOME": str(tmp_path / "home"),
            "ACTIONLENS_MONGO_URI": mongod,
            "ACTIONLENS_MONGO_DB": f"dag_{uuid.uuid4().hex[:12]}",
            "ACTIONLENS_BUCKET": str(tmp_path / "bucket"),
            **extra,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        settings = get_settings()
        db = connect(settings)
        used.append(db)
        return settings, db

    yield use
    for db in used:
        db.client.drop_database(db.name)
    get_settings.cache_clear()


@pytest.fixture
def silent_clip(tmp_path, ffmpeg):
    """`render(scenes, *, fps, size, name="c.mp4", seed=0)`: a generated clip without
    audio in the test's folder (`actionlens.testing.media.render_clip`)."""
    from actionlens.testing.media import render_clip

    def render(scenes, *, fps: float, size: tuple[int, int], name: str = "c.mp4", seed: int = 0):
        return render_clip(
            tmp_path / name, scenes, ffmpeg=ffmpeg, fps=fps, size=size, audio=False, seed=seed
        )

    return render


@pytest.fixture
def store_clip():
    """`store(settings, db, video_id, clip, transcript=None)`: the clip in the bucket and
    its video in the ledger as `stored`, as acquisition leaves them; `transcript` is a
    list of {start, end, text} segments."""
    from datetime import UTC, datetime

    from actionlens.store.mongo import VIDEOS
    from actionlens.store.storage import clip_key, open_bucket, sha256_file

    def store(settings, db, video_id: str, clip: Path, transcript: list | None = None) -> None:
        info = open_bucket(settings.bucket_uri()).upload(clip, clip_key(video_id))
        facts = {"uri": info.uri, "size_bytes": info.size, "sha256": sha256_file(clip)}
        doc = {"_id": video_id, "state": "stored", "clip": facts}
        doc["updated_at"] = datetime.now(UTC)
        if transcript is not None:
            doc["transcript"] = {"segments": transcript}
        db[VIDEOS].insert_one(doc)

    return store


@pytest.fixture
def load_dag(monkeypatch):
    """Parse one DAG file with extra environment (settings re-read before and after)."""
    from actionlens.settings import get_settings

    def load(dag_file: str, dag_id: str, **env: str):
        from airflow.dag_processing.dagbag import DagBag

        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        try:
            bag = DagBag(dag_folder=str(REPO / dag_file))
        finally:
            get_settings.cache_clear()
        assert bag.import_errors == {}
        return bag.dags[dag_id]

    return load
