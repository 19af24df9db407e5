"""The `agreement` DAG: wiring, schedule on the asset expression, and one real run."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from actionlens.orchestration.plan import batch_arguments, ids_from_events
from actionlens.settings import Settings, environment_for

REPO = Path(__file__).resolve().parents[2]


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "agreement.py"))
    assert bag.import_errors == {}
    return bag.dags["agreement"]


def test_dag_is_scheduled_on_opinions_only():
    # Annotations start second_opinions; scoring on them would compare half the pairs.
    dag = _dag()
    assert [a.name for a in dag.schedule] == ["actionlens_opinions"]
    assert "actionlens_annotations" not in {a.name for a in dag.timetable.asset_condition.objects}
    assert "Started by" in dag.doc_md and "actionlens_opinions" in dag.doc_md


def test_duckdb_runs_score_load_one_dbt_build_then_publish_with_writers_in_the_pool():
    from actionlens.orchestration.defaults import WAREHOUSE_POOL

    dag = _dag()
    order = [t.task_id for t in dag.topological_sort()]
    # The brain runs once, after every publish batch (publishing changes sample ids); it
    # reads MongoDB and writes FiftyOne only, so it stays out of the warehouse pool.
    assert order == [
        "plan",
        "score",
        "load",
        "load_neighbours",
        "dbt_build",
        "publish_fiftyone",
        "brain_fiftyone",
    ]
    assert dag.get_task("brain_fiftyone").pool != WAREHOUSE_POOL
    assert dag.get_task("dbt_build").partial_kwargs.get("step") == "build-warehouse"
    writers = ["load", "load_neighbours", "dbt_build", "publish_fiftyone"]
    assert {t: dag.get_task(t).pool for t in writers} == dict.fromkeys(writers, WAREHOUSE_POOL)
    assert dag.get_task("score").pool != WAREHOUSE_POOL  # MongoDB only: runs in parallel


def test_postgres_keeps_parallel_cosmos_dbt_tasks_outside_the_pool(load_dag):
    from actionlens.orchestration.defaults import WAREHOUSE_POOL
    from actionlens.telemetry import TELEMETRY_OFF

    dag = load_dag("dags/agreement.py", "agreement", ACTIONLENS_WAREHOUSE="postgres")
    order = [t.task_id for t in dag.topological_sort()]
    assert order[:4] == ["plan", "score", "load", "load_neighbours"]
    # The brain runs once, after every publish batch (publishing changes sample ids).
    assert order[-2:] == ["publish_fiftyone", "brain_fiftyone"]
    dbt = [t for t in order if t.startswith("dbt_build.")]
    assert "dbt_build.fct_video_confidence_model_build" in dbt
    assert "dbt_build.fct_video_neighbours_model_build" in dbt
    assert len(dbt) == len(order) - 6
    assert all(t.pool != WAREHOUSE_POOL for t in dag.tasks)
    # Parallel: the staging models do not wait for each other.
    staging = [t for t in dbt if ".stg_" in t]
    assert len(staging) > 1
    assert all(not set(dag.get_task(t).upstream_task_ids) & set(staging) for t in staging)
    env = dag.get_task("dbt_build.fct_video_confidence_model_build").env
    assert env["DBT_TARGET"] == "postgres"
    assert TELEMETRY_OFF.items() <= env.items()


def test_batches_come_from_event_extras():
    settings = Settings(agreement={"videos_per_batch": 2})
    events = {
        "a": [{"extra": {"video_ids": ["x1", "x2", "x3"]}}],
        "b": [{"extra": {"video_ids": ["x2"]}}],
    }
    size = settings.agreement.videos_per_batch
    assert ids_from_events(events) == ["x1", "x2", "x3"]
    assert batch_arguments(ids_from_events(events), size, all_when_empty=True) == [
        ["--videos=x1,x2"],
        ["--videos=x3"],
    ]
    assert batch_arguments(ids_from_events({}), size, all_when_empty=True) == [[]]


@pytest.mark.integration
@pytest.mark.airflow
def test_dag_run_fills_marts_and_dataset(airflow_db, mongod, tmp_path, monkeypatch):
    """One real run: score, load and publish subprocesses and every Cosmos dbt task."""
    import duckdb

    from actionlens.reference.action100m import import_files
    from actionlens.settings import get_settings
    from actionlens.store.mongo import connect
    from actionlens.testing.action100m import add_opinions, make_record, write_parquet
    from actionlens.testing.stores import throwaway_settings

    settings = throwaway_settings(
        tmp_path, mongod, fiftyone={"dataset": f"t_{uuid.uuid4().hex[:10]}"}
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
        from actionlens.orchestration.preflight import preflight

        assert preflight(get_settings(), create_pool=True)["pool"]["slots"] == 1
        dag = _dag()
        for task in dag.tasks:
            task.retries = 0  # a failure fails the test now, not after a retry delay
        run = dag.test()
        published = db.client["fiftyone"]["datasets"].find_one({"name": settings.fiftyone.dataset})
        brain = run.get_task_instance("brain_fiftyone", map_index=0)
    finally:
        get_settings.cache_clear()
        db.client.drop_database(settings.mongo_db)
    assert run.state == "success"
    assert published is not None
    # The brain ran after publishing: the text classification of both videos is recorded
    # in the dataset's info (no lens vectors were made in this run: all counted missing).
    assert brain.state == "success"
    info = published["info"]["actionlens_lenses"]
    assert info["text_embeddings"]["missing"] == 2 and info["qwen_embeddings"]["missing"] == 2

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

    # dbt_build published the marts snapshot the dashboard reads, and publish_fiftyone
    # refreshed its sample links.
    from actionlens.dashboard.page import fiftyone_sample_url, gather
    from actionlens.warehouse.snapshot import read_status, snapshot_path

    assert snapshot_path(settings).exists()
    status = read_status(settings)
    assert status["built_at"] and status["failed_at"] is None
    data = gather(settings)
    assert data["n_videos"] == len(ids) and data["freshness"]["source"] == "snapshot"
    assert fiftyone_sample_url(settings, ids[0]).startswith(
        f"{settings.fiftyone.app_url}/datasets/"
    )
