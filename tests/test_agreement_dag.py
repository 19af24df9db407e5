"""The `agreement` DAG: wiring, schedule on the asset expression, and one real run."""

from __future__ import annotations

from pathlib import Path

from actionlens.agreement.plan import batch_arguments, ids_from_events
from actionlens.settings import Settings

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
    assert order[:3] == ["plan", "score", "load"] and order[-1] == "publish_fiftyone"
    dbt = [t for t in order if t.startswith("dbt_build.")]
    assert "dbt_build.fct_video_confidence_model_build" in dbt
    assert len(dbt) == len(order) - 4


def test_batches_come_from_event_extras():
    settings = Settings(agreement={"videos_per_batch": 2})
    events = {
        "a": [{"extra": {"video_ids": ["x1", "x2", "x3"]}}],
        "b": [{"extra": {"video_ids": ["x2"]}}],
    }
    assert ids_from_events(events) == ["x1", "x2", "x3"]
    assert batch_arguments(settings, events) == [["--videos", "x1,x2"], ["--videos", "x3"]]
    assert batch_arguments(settings, None) == [[]]
