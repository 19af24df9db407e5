"""The second_opinions DAG: wiring, the GPU pod spec when a model runs in-process, the
ids it takes, and a local `dag.test()` run with the CPU baselines."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from actionlens.orchestration.plan import requested_ids
from actionlens.settings import Settings

DAG_FILE = "dags/second_opinions.py"
GPT = {
    "summary": {"brief": "A red scene.", "detailed": "A red scene with a square."},
    "action": {"brief": "N/A", "detailed": "N/A", "actor": "N/A"},
}


def test_dag_runs_on_annotations_and_maps_opinions_and_lenses_over_batches(load_dag):
    from actionlens.orchestration.assets import ANNOTATIONS, OPINIONS

    dag = load_dag(DAG_FILE, "second_opinions")
    assert [a.name for a in dag.schedule] == [ANNOTATIONS.name]
    for step in ("opinions", "lenses"):
        assert type(dag.get_task(step)).__name__ == "MappedOperator"
        assert dag.get_task(step).upstream_task_ids == {"plan"}
    assert dag.get_task("neighbours").upstream_task_ids == {"plan_neighbours"}
    publish = dag.get_task("publish_opinions")
    assert publish.upstream_task_ids == {"opinions", "neighbours"}
    assert [o.name for o in publish.outlets] == [OPINIONS.name]
    assert dag.params["video_ids"] == "all"


def test_opinions_run_in_gpu_pods_when_a_model_runs_in_process(load_dag, fake_kubernetes_conn):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    sources = [
        {"source": "qwen3vl", "backend": "transformers", "model_id": "Qwen/Qwen3-VL-8B-Instruct"}
    ]
    dag = load_dag(
        DAG_FILE,
        "second_opinions",
        ACTIONLENS_RUNNER="kubernetes",
        ACTIONLENS_OPINIONS__SOURCES=json.dumps(sources),
    )
    mapped = dag.get_task("opinions")
    op = KubernetesPodOperator(
        task_id="opinions", arguments=["--videos", "aaaaaaaaaa1"], **mapped.partial_kwargs
    )
    pod = op.build_pod_request_obj()
    pods = Settings().pods
    assert pod.spec.containers[0].resources.limits == {pods.gpu_resource: str(pods.gpu_limit)}
    assert pod.spec.containers[0].command[-1] == "opinions"
    lenses = dag.get_task("lenses").partial_kwargs  # the default lenses are CPU ones
    assert lenses["container_resources"].limits in (None, {})


def test_ids_come_from_events_else_the_param():
    events = {"actionlens_annotations": [SimpleNamespace(extra={"video_ids": ["aaaaaaaaaa1"]})]}
    assert requested_ids({"video_ids": "all"}, events) == ["aaaaaaaaaa1"]
    assert requested_ids({"video_ids": "all"}, {}) == "all"
    assert requested_ids({"video_ids": "aaaaaaaaaa2, aaaaaaaaaa3"}, None) == [
        "aaaaaaaaaa2",
        "aaaaaaaaaa3",
    ]
    assert requested_ids({"video_ids": ["aaaaaaaaaa4"]}, None) == ["aaaaaaaaaa4"]


@pytest.mark.integration
@pytest.mark.airflow
def test_local_run_gives_opinions_lenses_and_neighbours_with_baselines(
    silent_clip, airflow_db, load_dag, dag_env, store_clip
):
    from actionlens.store.mongo import NODES
    from actionlens.testing.media import Scene
    from actionlens.testing.trees import small_tree

    settings, db = dag_env()
    ids = ["dagOpin0001", "dagOpin0002"]
    for i, vid in enumerate(ids):
        clip = silent_clip(
            [Scene(6.0, (200, 40, 40)), Scene(6.0, (40, 70, 200))],
            fps=8,
            size=(64, 48),
            name=f"{vid}.mp4",
            seed=i,
        )
        transcript = [{"start": 0.0, "end": 12.0, "text": "Today we bake bread."}]
        store_clip(settings, db, vid, clip, transcript)
        # An imported reference tree: only `gpt` annotations, on the root and one mid node.
        docs = small_tree(vid, "action100m")
        for d in docs:
            if d["level"] <= 1 and not d["leaf"]:
                d["annotations"] = {"gpt": GPT}
        db[NODES].insert_many(docs)
    dag = load_dag(DAG_FILE, "second_opinions")
    run = dag.test()
    assert run.state == "success"
    asked = list(db[NODES].find({"annotations.gpt": {"$exists": True}}))
    assert len(asked) == 4
    for node in asked:
        for source in ("qwen3vl", "molmo2"):
            entry = node["annotations"][source]
            assert entry["status"] == "ok" and entry["baseline"] is True, (source, entry)
    # 2 videos x 3 lenses (transcript, visual, motion); 3 lens pairs.
    assert db["lenses"].count_documents({"status": "ok"}) == 6
    assert (
        db["neighbours"].count_documents({}) == 6
        and db["neighbour_overlap"].count_documents({}) == 6
    )
    published = run.get_task_instance("publish_opinions")
    assert published.state == "success"


def test_the_opinions_event_announces_every_finished_video_once():
    # agreement runs on this event only: videos whose opinions failed or that had none to
    # ask for are announced too (scored once with the pairs that exist); a batch that
    # died announces nobody (clearing it does).
    from actionlens.orchestration.assets import opinions_announcement

    def batch(**outcomes):
        videos = [{"video_id": v, "outcome": o} for v, o in outcomes.items()]
        return {"sources": [{"source": "qwen3vl", "videos": videos}]}

    reports = [
        batch(aaaaaaaaaa1="done", aaaaaaaaaa2="failed"),
        None,
        batch(aaaaaaaaaa3="up_to_date", aaaaaaaaaa4="skipped"),
    ]
    assert opinions_announcement(reports) == {
        "video_ids": ["aaaaaaaaaa1", "aaaaaaaaaa2", "aaaaaaaaaa3", "aaaaaaaaaa4"],
        "opinions_failed": ["aaaaaaaaaa2"],
        "without_opinions": ["aaaaaaaaaa4"],
    }
    assert opinions_announcement([None]) == {
        "video_ids": [],
        "opinions_failed": [],
        "without_opinions": [],
    }
