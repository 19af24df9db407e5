"""One factory for heavy steps: a KubernetesPodOperator or a local subprocess.

DAG code is identical in both modes:

    acquire = heavy_step("acquire", task_id="acquire").expand(arguments=batch_args)

where each element of `batch_args` is the step's own arguments for one batch
(`["--videos", "id1,id2"]`). The step prints progress to its log and returns its JSON
result as the task's XCom (a pod writes it to /airflow/xcom/return.json).

Whether a step's pod gets a GPU is not kept here: a stage runs the backends its settings
choose (`STEP_BACKENDS`), and each backend declares `needs_gpu` in its registry table
(actionlens.backends), read without importing it, so parsing a DAG stays light.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from actionlens.backends import CHAT_MODELS, EMBEDDERS, LENS_BACKENDS
from actionlens.orchestration.defaults import WAREHOUSE_POOL
from actionlens.registry import Registry
from actionlens.settings import Settings, get_settings
from actionlens.telemetry import TELEMETRY_OFF

POD_RESULT_FILE = "/airflow/xcom/return.json"

# The model backends each step runs, as its stage chooses them from the settings (the
# stage's `needs_gpu` is its backend's). Every other step runs no model: a CPU pod.
STEP_BACKENDS: dict[str, Callable[[Settings], list[tuple[Registry, str]]]] = {
    "segment": lambda s: [(EMBEDDERS, s.segment.backend)],
    "caption": lambda s: [(CHAT_MODELS, s.models.captioner.backend)],
    "aggregate": lambda s: [(CHAT_MODELS, s.models.aggregator.backend)],
    "opinions": lambda s: [(CHAT_MODELS, o.backend) for o in s.opinions.sources],
    "lenses": lambda s: [(LENS_BACKENDS, lens.backend) for lens in s.opinions.lenses],
}


def needs_gpu(step: str, settings: Settings) -> bool:
    """Whether `step` needs a GPU pod: one of the backends it runs declares `needs_gpu`
    (a batch of opinions or lenses runs every configured one in the same pod)."""
    chosen = STEP_BACKENDS.get(step)
    return chosen is not None and any(
        registry.needs(name, "needs_gpu") for registry, name in chosen(settings)
    )


def step_command(step: str, result_file: str | None = None, python: str = "python") -> list[str]:
    """The command line of a step, without its per-batch arguments."""
    cmd = [python, "-m", "actionlens"]
    if result_file:
        cmd += ["--result-file", result_file]
    return [*cmd, step]


class LocalStepOperator(BaseOperator):
    """Runs `python -m actionlens <step> <arguments>` as a subprocess of the worker,
    streaming its output into the task log and returning its JSON result."""

    template_fields: Sequence[str] = ("arguments",)
    ui_color = "#e8f1fb"

    def __init__(self, *, step: str, arguments: list[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.step = step
        self.arguments = list(arguments or [])

    def execute(self, context: Any) -> Any:
        with tempfile.TemporaryDirectory(prefix=f"actionlens-{self.step}-") as tmp:
            result = Path(tmp) / "result.json"
            cmd = [*step_command(self.step, str(result), python=sys.executable), *self.arguments]
            self.log.info("running %s", " ".join(cmd))
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.info("%s", line.rstrip())
            code = proc.wait()
            if code != 0:
                raise RuntimeError(f"actionlens {self.step} exited with code {code}")
            return json.loads(result.read_text()) if result.exists() else None


def _pod_kwargs(step: str, gpu: bool, settings: Settings) -> dict[str, Any]:
    from kubernetes.client import models as k8s

    pods = settings.pods
    if gpu:
        resources = k8s.V1ResourceRequirements(
            requests={"cpu": pods.gpu_cpu_request, "memory": pods.gpu_memory_request},
            limits={pods.gpu_resource: str(pods.gpu_limit)},
        )
        selector = dict(pods.gpu_node_selector)
        tolerations = [k8s.V1Toleration(**t) for t in pods.gpu_tolerations]
        image = pods.gpu_image
    else:
        resources = k8s.V1ResourceRequirements(
            requests={"cpu": pods.cpu_request, "memory": pods.memory_request}
        )
        selector = dict(pods.cpu_node_selector)
        tolerations = []
        image = pods.cpu_image
    volumes, mounts = [], []
    if gpu and pods.weights_volume_claim:
        volumes.append(
            k8s.V1Volume(
                name="model-weights",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name=pods.weights_volume_claim, read_only=True
                ),
            )
        )
        mounts.append(
            k8s.V1VolumeMount(
                name="model-weights", mount_path=pods.weights_mount_path, read_only=True
            )
        )
    env_from = (
        [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=pods.env_from_secret))]
        if pods.env_from_secret
        else None
    )
    return {
        "kubernetes_conn_id": pods.kubernetes_conn_id,
        "namespace": pods.namespace,
        "service_account_name": pods.service_account,
        "image": image,
        "image_pull_policy": pods.image_pull_policy,
        "cmds": step_command(step, POD_RESULT_FILE),
        "name": f"actionlens-{step}",
        "labels": {"app.kubernetes.io/part-of": "actionlens", "actionlens/step": step},
        "container_resources": resources,
        "node_selector": selector,
        "tolerations": tolerations,
        "env_from": env_from,
        # Set in the pod as well as in the images: a pod started from any other image (a
        # pods.gpu_image override) still sends no usage data. Explicit env wins over envFrom.
        "env_vars": dict(TELEMETRY_OFF),
        # The step never calls the Kubernetes API (the operator's own identity creates and
        # watches the pod); without this a step's code could use the service account's
        # token to create pods in the namespace.
        "automount_service_account_token": False,
        "volumes": volumes,
        "volume_mounts": mounts,
        # The step's JSON result (/airflow/xcom/return.json) is the task's return value, read
        # by the tasks downstream; without the sidecar they would get None.
        "do_xcom_push": True,
        # The step's progress and its error text in the task log: a deleted pod's own log is
        # gone, and the task would only say that the pod failed.
        "get_logs": True,
        # A GPU pod can wait long for a node; deferred, it does not hold a worker meanwhile.
        "deferrable": pods.deferrable,
        # The provider's default (120 s) fails a step while a fresh GPU node is still pulling
        # the multi-GB CUDA image; the schedule timeout bounds waiting for the autoscaler, so a
        # quota or selector that no node satisfies fails the task instead of leaving it Pending.
        "startup_timeout_seconds": pods.startup_timeout_seconds,
        "schedule_timeout_seconds": pods.schedule_timeout_seconds,
        # Failed pods stay for `kubectl describe`/`logs`; succeeded ones would pile up.
        "on_finish_action": "delete_succeeded_pod",
        # A worker restarted mid-step (eviction, upgrade) picks up the running pod instead of
        # starting a second one on the same batch (two writers of the same videos).
        "reattach_on_restart": True,
    }


def pod_operator(
    step: str,
    *,
    task_id: str,
    arguments: list[str],
    gpu: bool | None = None,
    settings: Settings | None = None,
    **kwargs: Any,
):
    """One concrete pod task (unmapped), e.g. for a single-batch step or a spec test; `gpu`
    (forced on or off for a spec test) defaults to what the step's backends declare."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    settings = settings or get_settings()
    gpu = needs_gpu(step, settings) if gpu is None else gpu
    return KubernetesPodOperator(
        task_id=task_id, arguments=arguments, **_pod_kwargs(step, gpu, settings), **kwargs
    )


def heavy_step(
    step: str,
    *,
    task_id: str,
    writes_warehouse: bool = False,
    settings: Settings | None = None,
    **kwargs: Any,
):
    """A partial operator for `step`, to `.expand(arguments=[...])` over batches.

    `settings.runner` picks a KubernetesPodOperator (GPU limit, node selector and
    tolerations when the step's backends declare `needs_gpu`, see `needs_gpu`) or a
    LocalStepOperator; the arguments are the same. A step
    that `writes_warehouse` runs in the one-slot warehouse pool when the warehouse is
    DuckDB (one writing process per file); Postgres and BigQuery take writers in parallel.
    """
    settings = settings or get_settings()
    if writes_warehouse and settings.warehouse == "duckdb":
        kwargs.setdefault("pool", WAREHOUSE_POOL)
    if settings.runner == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        return KubernetesPodOperator.partial(
            task_id=task_id, **_pod_kwargs(step, needs_gpu(step, settings), settings), **kwargs
        )
    return LocalStepOperator.partial(task_id=task_id, step=step, **kwargs)
