"""caption → aggregate → publish_annotations as wired in dags/tree_of_captions.py."""

from __future__ import annotations

from actionlens.orchestration.plan import batch_arguments
from actionlens.runtime import merge_reports


def test_batches_keep_order_and_drop_duplicates():
    assert batch_arguments(["a", "b", "a", "c"], 2) == [["--videos=a,b"], ["--videos=c"]]
    assert batch_arguments([], 8) == []


def test_reports_merge_with_lost_batches():
    batch = {
        "stage": "caption",
        "videos": [
            {"video_id": "b", "outcome": "done"},
            {"video_id": "a", "outcome": "up_to_date"},
            {"video_id": "c", "outcome": "failed"},
        ],
    }
    merged = merge_reports([batch, None], "captioned")
    assert merged["captioned"] == ["a", "b"] and merged["failed"] == ["c"]
    assert merged["counts"]["batches_lost"] == 1
    agg = merge_reports(
        [
            {
                "stage": "aggregate",
                "videos": [
                    {"video_id": "a", "outcome": "done", "asked": 3, "invalid": 1, "errors": 0}
                ],
            },
            None,
        ],
        "annotated",
        sums=("asked", "invalid", "errors"),
    )
    assert agg["annotated"] == ["a"] and agg["counts"] == {
        "asked": 3,
        "invalid": 1,
        "errors": 0,
        "batches_lost": 1,
        "done": 1,
    }


def test_opinion_reports_sum_counts_over_sources():
    def line(vid, outcome, asked, invalid, errors):
        return {"video_id": vid, "outcome": outcome, "asked": asked, "invalid": invalid} | {
            "errors": errors
        }

    report = {
        "sources": [
            {"videos": [line("b", "done", 2, 1, 0), line("c", "failed", 2, 0, 2)]},
            {"videos": [line("a", "done", 4, 0, 1)]},
        ],
    }
    later = {"sources": [{"videos": [line("a", "up_to_date", 0, 0, 0)]}]}
    merged = merge_reports(
        [report, None, later], "opined", sums=("asked", "invalid", "errors"), parts="sources"
    )
    assert merged == {
        "opined": ["a", "b"],
        "failed": ["c"],
        "counts": {
            "asked": 8,
            "invalid": 1,
            "errors": 3,
            "batches_lost": 1,
            "done": 2,
            "failed": 1,
            "up_to_date": 1,
        },
    }


def test_tasks_are_mapped_in_order_and_publish_the_annotations_asset(load_dag):
    from actionlens.orchestration.assets import ANNOTATIONS

    d = load_dag(
        "dags/tree_of_captions.py",
        "tree_of_captions",
        ACTIONLENS_MODELS__CAPTIONER__BACKEND="transformers",
        ACTIONLENS_MODELS__CAPTIONER__MODEL_ID="Qwen/Qwen3-VL-4B-Instruct",
    )
    tasks = d.task_dict
    assert set(tasks) == {
        "plan_segment",
        "segment",
        "segmented",
        "plan_captions",
        "caption",
        "plan_aggregate",
        "aggregate",
        "publish_annotations",
    }
    assert tasks["plan_captions"].upstream_task_ids == {"segmented"}
    assert tasks["caption"].upstream_task_ids == {"plan_captions"}
    assert tasks["plan_aggregate"].upstream_task_ids == {"caption"}
    assert tasks["aggregate"].upstream_task_ids == {"plan_aggregate"}
    assert tasks["publish_annotations"].upstream_task_ids == {"aggregate"}
    assert [o.name for o in tasks["publish_annotations"].outlets] == [ANNOTATIONS.name]
    assert tasks["caption"].partial_kwargs["step"] == "caption"
    assert tasks["aggregate"].partial_kwargs["step"] == "aggregate"


def test_only_in_process_models_ask_for_a_gpu():
    from actionlens.orchestration.runner import needs_gpu
    from actionlens.settings import ModelSpec, Settings

    def captioner(spec: ModelSpec) -> Settings:
        return Settings(models={"captioner": spec})

    qwen = ModelSpec(backend="transformers", model_id="Qwen/Qwen3-VL-4B-Instruct")
    assert needs_gpu("caption", captioner(qwen))
    assert not needs_gpu("caption", Settings()) and not needs_gpu(
        "caption", captioner(ModelSpec(backend="openai", model_id="m"))
    )


def test_caption_pods_get_a_gpu_and_an_endpoint_aggregator_does_not(
    monkeypatch, fake_kubernetes_conn
):
    # fake_kubernetes_conn: pods are built against a kubeconfig that points nowhere.
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from actionlens.settings import Settings, get_settings

    env = {
        "ACTIONLENS_RUNNER": "kubernetes",
        "ACTIONLENS_MODELS__CAPTIONER__BACKEND": "transformers",
        "ACTIONLENS_MODELS__CAPTIONER__MODEL_ID": "Qwen/Qwen3-VL-4B-Instruct",
        "ACTIONLENS_MODELS__AGGREGATOR__BACKEND": "openai",
        "ACTIONLENS_MODELS__AGGREGATOR__MODEL_ID": "openai/gpt-oss-120b",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        dag = DagBag(dag_folder="dags/tree_of_captions.py").dags["tree_of_captions"]
        pods = Settings().pods
    finally:
        get_settings.cache_clear()
    built = {}
    for step in ("caption", "aggregate"):
        mapped = dag.get_task(step)
        assert mapped.operator_class is KubernetesPodOperator
        op = KubernetesPodOperator(
            task_id=step, arguments=["--videos", "aaaaaaaaaa1"], **mapped.partial_kwargs
        )
        built[step] = op.build_pod_request_obj().spec
    caption, aggregate = built["caption"], built["aggregate"]
    assert caption.containers[0].resources.limits == {pods.gpu_resource: str(pods.gpu_limit)}
    assert (
        caption.containers[0].command[-1] == "caption"
        and caption.node_selector == pods.gpu_node_selector
    )
    assert not (aggregate.containers[0].resources.limits or {}).get(pods.gpu_resource)
    assert aggregate.containers[0].command[-1] == "aggregate"
    assert aggregate.containers[0].args == ["--videos", "aaaaaaaaaa1"]
