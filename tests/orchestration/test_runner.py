"""The heavy-step factory: the same arguments become a GPU pod or a local subprocess."""

from __future__ import annotations

import json
import os

import pytest

from actionlens.orchestration.runner import (
    POD_RESULT_FILE,
    LocalStepOperator,
    heavy_step,
    pod_operator,
    step_command,
)
from actionlens.settings import Settings
from actionlens.telemetry import TELEMETRY_OFF

# Building a pod needs a kubernetes connection that parses, never a cluster.
pytestmark = pytest.mark.usefixtures("fake_kubernetes_conn")


def k8s_settings(**pods) -> Settings:
    return Settings(runner="kubernetes", pods=pods)


def test_gpu_pod_spec_is_built_offline_with_limits_selector_and_tolerations():
    op = pod_operator(
        "segment",
        task_id="segment",
        gpu=True,
        settings=k8s_settings(),
        arguments=["--videos", "aaaaaaaaaa1,aaaaaaaaaa2"],
    )
    pod = op.build_pod_request_obj()
    container = pod.spec.containers[0]
    assert container.image == Settings().pods.gpu_image and ":" in container.image
    assert container.command == [
        "python",
        "-m",
        "actionlens",
        "--result-file",
        POD_RESULT_FILE,
        "segment",
    ]
    assert container.args == ["--videos", "aaaaaaaaaa1,aaaaaaaaaa2"]
    assert container.resources.limits == {"nvidia.com/gpu": "1"}
    assert pod.spec.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    [tol] = pod.spec.tolerations
    assert (tol.key, tol.operator, tol.effect) == ("nvidia.com/gpu", "Exists", "NoSchedule")
    assert pod.spec.service_account_name == "actionlens-runner"
    assert container.env_from[0].secret_ref.name == "actionlens-settings"
    assert op.deferrable is True
    assert op.on_finish_action.value == "delete_succeeded_pod"
    assert op.startup_timeout_seconds == 900 and op.schedule_timeout_seconds == 1800
    assert op.do_xcom_push is True
    [mount] = [m for m in container.volume_mounts if m.name == "model-weights"]
    assert (mount.mount_path, mount.read_only) == ("/models", True)
    [volume] = [v for v in pod.spec.volumes if v.name == "model-weights"]
    assert volume.persistent_volume_claim.claim_name == "actionlens-model-weights"


def test_cpu_pod_has_no_gpu_and_uses_the_cpu_image():
    op = pod_operator(
        "acquire",
        task_id="acquire",
        gpu=False,
        settings=k8s_settings(),
        arguments=["--videos", "aaaaaaaaaa1"],
    )
    container = op.build_pod_request_obj().spec.containers[0]
    assert container.image == Settings().pods.cpu_image
    assert not (container.resources.limits or {}).get("nvidia.com/gpu")
    assert not [m for m in container.volume_mounts or [] if m.name == "model-weights"]


@pytest.mark.parametrize(
    ("step", "gpu"), [("segment", True), ("acquire", False)], ids=["gpu-step", "cpu-step"]
)
@pytest.mark.parametrize("version", ["1.33.0", "1.37.0"])
def test_step_pod_is_a_valid_kubernetes_pod(step, gpu, version):
    """The operator's own pod request object (XCom sidecar included), as sent to the API."""
    import kubernetes_validate
    from kubernetes.client import ApiClient

    op = pod_operator(
        step, task_id=step, gpu=gpu, settings=k8s_settings(), arguments=["--videos", "a1"]
    )
    body = ApiClient().sanitize_for_serialization(op.build_pod_request_obj())
    assert (body["apiVersion"], body["kind"]) == ("v1", "Pod")
    assert [c["name"] for c in body["spec"]["containers"]] == ["base", "airflow-xcom-sidecar"]
    kubernetes_validate.validate(body, version, strict=True)


_DAG_PODS = """
import json
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import ApiClient

bag = DagBag(dag_folder={dags!r})
assert not bag.import_errors, bag.import_errors
pods = {{}}
for dag in bag.dags.values():
    for task in dag.tasks:
        if getattr(task, "operator_class", None) is KubernetesPodOperator:
            op = task.unmap({{"arguments": ["--videos", "aaaaaaaaaa1"]}})
            body = ApiClient().sanitize_for_serialization(op.build_pod_request_obj())
            pods[f"{{dag.dag_id}}.{{task.task_id}}"] = body
print(json.dumps(pods))
"""


def test_every_heavy_step_of_every_dag_creates_a_valid_kubernetes_pod(fake_kubernetes_conn):
    """Each DAG's own mapped pod task, parsed in kubernetes mode as a dag-processor would and
    unmapped with one batch's arguments, builds a pod the API would accept."""
    import subprocess
    import sys
    from pathlib import Path

    import kubernetes_validate

    dags = Path(__file__).resolve().parents[2] / "dags"
    env = {
        **os.environ,
        "ACTIONLENS_RUNNER": "kubernetes",
        "ACTIONLENS_MONGO_URI": "mongodb://mongo.invalid:27017/",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _DAG_PODS.format(dags=str(dags))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pods = json.loads(proc.stdout.strip().splitlines()[-1])
    gpu = {
        name
        for name, body in pods.items()
        if "nvidia.com/gpu" in (body["spec"]["containers"][0]["resources"].get("limits") or {})
    }
    assert gpu and set(pods) - gpu, f"expected GPU and CPU steps among {sorted(pods)}"
    for name, body in pods.items():
        image = body["spec"]["containers"][0]["image"]
        assert image == (Settings().pods.gpu_image if name in gpu else Settings().pods.cpu_image)
        try:
            kubernetes_validate.validate(body, "1.33.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


@pytest.mark.parametrize("gpu", [True, False], ids=["gpu-step", "cpu-step"])
def test_step_pod_turns_telemetry_off_and_mounts_no_api_token(gpu):
    op = pod_operator("segment", task_id="s", gpu=gpu, settings=k8s_settings(), arguments=[])
    pod = op.build_pod_request_obj()
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert {k: env.get(k) for k in TELEMETRY_OFF} == TELEMETRY_OFF
    assert pod.spec.automount_service_account_token is False


def test_pod_settings_come_from_settings():
    op = pod_operator(
        "segment",
        task_id="s",
        gpu=True,
        arguments=[],
        settings=k8s_settings(gpu_limit=2, namespace="ml", gpu_node_selector={"pool": "a100"}),
    )
    pod = op.build_pod_request_obj()
    assert pod.metadata.namespace == "ml"
    assert pod.spec.containers[0].resources.limits == {"nvidia.com/gpu": "2"}
    assert pod.spec.node_selector == {"pool": "a100"}


def test_factory_picks_the_operator_by_runner_setting():
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    assert (
        heavy_step("acquire", task_id="a", settings=Settings(runner="local")).operator_class
        is LocalStepOperator
    )
    partial = heavy_step("acquire", task_id="a", settings=k8s_settings())
    assert partial.operator_class is KubernetesPodOperator
    assert partial.kwargs["cmds"] == step_command("acquire", POD_RESULT_FILE)


def test_local_operator_runs_the_step_and_returns_its_json(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLENS_HOME", str(tmp_path / "home"))
    op = LocalStepOperator(task_id="t", step="mongo", arguments=["status"])
    assert op.execute({}) == {"running": False, "uri": None}


def test_local_operator_fails_when_the_step_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLENS_HOME", str(tmp_path / "home"))
    op = LocalStepOperator(task_id="t", step="mongo", arguments=["explode"])
    with pytest.raises(RuntimeError, match="exited with code 2"):
        op.execute({})


def test_cli_writes_the_result_file(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "r.json"
    env = {**os.environ, "ACTIONLENS_HOME": str(tmp_path / "home")}
    subprocess.run(
        [sys.executable, "-m", "actionlens", "--result-file", str(out), "mongo", "status"],
        check=True,
        env=env,
        capture_output=True,
    )
    assert json.loads(out.read_text()) == {"running": False, "uri": None}
