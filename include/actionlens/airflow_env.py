"""The environment for Airflow on the embedded default (demo and `make up`)."""

from __future__ import annotations

from pathlib import Path

from actionlens.settings import REPO_ROOT
from actionlens.telemetry import TELEMETRY_OFF


def airflow_environment(home: Path) -> dict[str, str]:
    """AIRFLOW_* variables for a local Airflow whose state lives under `home`, with every
    component's telemetry off (Airflow, Cosmos, dbt, FiftyOne: actionlens.telemetry)."""
    return {
        **TELEMETRY_OFF,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "0",
        # Cosmos keys its partial-parse cache by DAG and task group only: one per home, so
        # another home's settings (other DBT_* values) never force a full re-parse here.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
    }
