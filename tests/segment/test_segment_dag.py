"""The tree_of_captions DAG: wiring, the segment pod spec built offline, asset-event ids,
and a local `dag.test()` run that segments the stored backlog."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actionlens.segment.run import ids_from_events
from actionlens.settings import Settings

DAG_FILE = "dags/tree_of_captions.py"


def test_dag_runs_on_stored_clips_and_maps_segment_over_batches(load_dag):
    from actionlens.orchestration.assets import STORED_CLIPS

    dag = load_dag(DAG_FILE, "tree_of_captions")
    assert [a.name for a in dag.schedule] == [STORED_CLIPS.name]
    segment = dag.get_task("segment")
    assert segment.upstream_task_ids == {"plan_segment"}
    assert dag.get_task("segmented").upstream_task_ids == {"segment"}
    assert type(segment).__name__ == "MappedOperator"


def test_segment_pod_spec_is_built_offline(load_dag, fake_kubernetes_conn):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    dag = load_dag(DAG_FILE, "tree_of_captions", ACTIONLENS_RUNNER="kubernetes")
    mapped = dag.get_task("segment")
    assert mapped.operator_class is KubernetesPodOperator
    # One mapped instance, as the scheduler would expand it for a batch.
    op = KubernetesPodOperator(
        task_id=mapped.task_id,
        arguments=["--videos", "aaaaaaaaaa1,aaaaaaaaaa2"],
        **mapped.partial_kwargs,
    )
    pod = op.build_pod_request_obj()
    pods = Settings().pods
    container = pod.spec.containers[0]
    assert container.resources.limits == {pods.gpu_resource: str(pods.gpu_limit)}
    assert pod.spec.node_selector == pods.gpu_node_selector
    assert [t.key for t in pod.spec.tolerations] == [t["key"] for t in pods.gpu_tolerations]
    assert container.image == pods.gpu_image
    assert container.command[-1] == "segment"
    assert container.args == ["--videos", "aaaaaaaaaa1,aaaaaaaaaa2"]
    assert op.on_finish_action.value == "delete_succeeded_pod"


def test_ids_come_from_the_triggering_events_extra():
    events = {
        "actionlens_stored_clips": [
            SimpleNamespace(extra={"video_ids": ["aaaaaaaaaa1", "aaaaaaaaaa2"]}),
            SimpleNamespace(extra={"video_ids": ["aaaaaaaaaa2", "aaaaaaaaaa3"]}),
            SimpleNamespace(extra={}),
            SimpleNamespace(extra=None),
        ]
    }
    assert ids_from_events(events) == ["aaaaaaaaaa1", "aaaaaaaaaa2", "aaaaaaaaaa3"]
    assert ids_from_events({}) == []
    assert ids_from_events([{"extra": {"video_ids": ["aaaaaaaaaa4"]}}]) == ["aaaaaaaaaa4"]


@pytest.mark.integration
@pytest.mark.airflow
def test_local_run_segments_the_stored_backlog(tmp_path, ffmpeg, airflow_db, dag_env, store_clip):
    from airflow.dag_processing.dagbag import DagBag

    from actionlens.store.mongo import NODES, VIDEOS
    from actionlens.testing.media import Scene, render_clip

    settings, db = dag_env(ACTIONLENS_SEGMENT__BATCH_VIDEOS="1")
    ids = ["dagclip0001", "dagclip0002"]
    for i, vid in enumerate(ids):
        clip = render_clip(
            tmp_path / f"{vid}.mp4",
            [Scene(1.0, (200, 40, 40)), Scene(1.0, (40, 70, 200))],
            ffmpeg=ffmpeg,
            size=(64, 48),
            seed=i,
        )
        store_clip(settings, db, vid, clip)
    dag = DagBag(dag_folder=DAG_FILE).dags["tree_of_captions"]
    run = dag.test()
    assert run.state == "success"
    for vid in ids:
        assert db[VIDEOS].find_one({"_id": vid})["stages"]["segment"]["state"] == "done"
        assert db[NODES].count_documents({"video_id": vid, "parent_id": None}) == 1
