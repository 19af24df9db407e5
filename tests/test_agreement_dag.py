"""The `agreement` DAG: wiring, schedule on the asset expression, and one real run."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from actionlens.agreement.plan import batch_arguments, ids_from_events
from actionlens.settings import Settings, environment_for

REPO = Path(__file__).resolve().parents[1]


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "agreement.py"))
    assert bag.import_errors == {}
    return bag.dags["agreement"]


def test_dag_is_scheduled_on_annotations_or_opinions():
    from airflow.sdk.definitions.asset import AssetAny

    condition = _dag().timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert {a.name for a in condition.objects} == {"actionlens_annotations", "actionlens_opinions"}


def test_dag_runs_score_load_dbt_then_publish():
    order = [t.task_id for t in _dag().topological_sort()]
    assert order[:4] == ["plan", "score", "load", "load_neighbours"]
    assert order[-1] == "publish_fiftyone"
    dbt = [t for t in order if t.startswith("dbt_build.")]
    assert "dbt_build.fct_video_confidence_model_build" in dbt
    assert "dbt_build.fct_video_neighbours_model_build" in dbt
    assert len(dbt) == len(order) - 5


def test_batches_come_from_event_extras():
    settings = Settings(agreement={"videos_per_batch": 2})
    events = {
        "a": [{"extra": {"video_ids": ["x1", "x2", "x3"]}}],
        "b": [{"extra": {"video_ids": ["x2"]}}],
    }
    assert ids_from_events(events) == ["x1", "x2", "x3"]
    assert batch_arguments(settings, events) == [["--videos=x1,x2"], ["--videos=x3"]]
    assert batch_arguments(settings, None) == [[]]


@pytest.mark.integration
@pytest.mark.airflow
def test_dag_run_fills_marts_and_dataset(airflow_db, mongod, tmp_path, monkeypatch):
    """One real run: score, load and publish subprocesses and every Cosmos dbt task."""
    import duckdb

    from actionlens.reference.action100m import import_files
    from actionlens.reference.synthetic import add_opinions, make_record, write_parquet
    from actionlens.settings import get_settings
    from actionlens.store.mongo import connect

    settings = Settings(
        home=tmp_path / "home",
        mongo_uri=mongod,
        mongo_db=f"t_{uuid.uuid4().hex[:12]}",
        bucket=str(tmp_path / "bucket"),
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        agreement={"fiftyone_dataset": f"t_{uuid.uuid4().hex[:10]}"},
    )
    ids = ["dagvideo001", "dagvideo002"]
    records = [make_record(v, duration=20.0) for v in ids]
    import_files(settings, [str(write_parquet(records, tmp_path / "a.parquet"))])
    db = connect(settings)
    add_opinions(db, {"qwen3vl": 1.0, "molmo2": 0.0})
    for name, value in environment_for(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        dag = _dag()
        for task in dag.tasks:
            task.retries = 0  # a failure fails the test now, not after a retry delay
        run = dag.test()
        published = db.client["fiftyone"]["datasets"].find_one(
            {"name": settings.agreement.fiftyone_dataset}
        )
    finally:
        get_settings.cache_clear()
        db.client.drop_database(settings.mongo_db)
    assert run.state == "success"
    assert published is not None

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        tags = dict(
            con.execute("select video_id, tags from analytics.fct_video_confidence").fetchall()
        )
        rows = con.execute("select count(*) from analytics.fct_node_agreement").fetchone()[0]
    finally:
        con.close()
    assert set(tags) == set(ids) and rows > 0
    assert all("qwen_agrees" in t.split(",") for t in tags.values())
