"""docker-compose.yaml wiring (no Docker engine here to run it): the services exist and
every ACTIONLENS_* variable names a real setting."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from actionlens.settings import CPU_IMAGE, Settings
from actionlens.telemetry import TELEMETRY_OFF

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def _is_setting(name: str) -> bool:
    model: type[BaseModel] = Settings
    parts = name.removeprefix("ACTIONLENS_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            model = field.annotation
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                return False
    return True


def test_stack_has_airflow_components_and_stores():
    services = compose()["services"]
    assert set(AIRFLOW + ["postgres", "mongodb", "gcs"]) <= set(services)
    commands = {name: services[name]["command"] for name in AIRFLOW[1:]}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }


def test_airflow_services_share_settings_repo_mount_and_metadata_db():
    services = compose()["services"]
    for name in AIRFLOW:
        svc = services[name]
        env = svc["environment"]
        assert "./:/opt/actionlens" in svc["volumes"], name
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/actionlens/dags"
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["ACTIONLENS_MONGO_URI"] == "mongodb://mongodb:27017/"
        assert env["ACTIONLENS_GCS_ENDPOINT"].startswith("http://gcs:")
        assert env["ACTIONLENS_BUCKET"].startswith("gs://")
    for name in AIRFLOW[1:]:
        assert (
            services[name]["depends_on"]["airflow-init"]["condition"]
            == "service_completed_successfully"
        )


def test_airflow_services_build_the_production_airflow_dockerfile():
    services = compose()["services"]
    for name in AIRFLOW:
        build = services[name]["build"]
        assert build == {"context": ".", "dockerfile": "deploy/docker/airflow.Dockerfile"}, name
        assert (REPO / build["dockerfile"]).is_file()
        # The tag `make images` builds and settings.pods.cpu_image runs.
        assert services[name]["image"] == CPU_IMAGE, name


def test_airflow_services_turn_telemetry_off():
    services = compose()["services"]
    for name in AIRFLOW:
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        assert {k: env.get(k) for k in TELEMETRY_OFF} == TELEMETRY_OFF, name


def test_every_actionlens_variable_is_a_setting_and_parses(monkeypatch):
    env = compose()["services"]["airflow-scheduler"]["environment"]
    names = [n for n in env if n.startswith("ACTIONLENS_")]
    assert names
    assert [n for n in names if not _is_setting(n)] == []
    for name in names:
        monkeypatch.setenv(name, str(env[name]))
    s = Settings()
    assert s.warehouse == "postgres" and s.mongo_uri == "mongodb://mongodb:27017/"
    assert s.acquire.budget == 200


def test_is_setting_rejects_typos():
    assert _is_setting("ACTIONLENS_ACQUIRE__BUDGET")
    assert not _is_setting("ACTIONLENS_ACQUIRE__BUDGETT")
    assert not _is_setting("ACTIONLENS_MONGOURI")
