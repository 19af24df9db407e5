"""Run the dbt project in dbt/ against the configured warehouse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from actionlens.errors import ActionlensError
from actionlens.settings import REPO_ROOT, Settings, child_environment

DBT_PROJECT_DIR = REPO_ROOT / "dbt"


def dbt_vars(settings: Settings) -> dict:
    cfg = settings.agreement
    return {
        "raw_schema": cfg.raw_schema,
        "reference_source": cfg.reference_source,
        "opinion_sources": list(cfg.opinion_sources),
        "qwen_source": cfg.qwen_source,
        "molmo_source": cfg.molmo_source,
        "workshop_field": cfg.workshop_field,
    }


def dbt_env(settings: Settings, schema: str = "analytics") -> dict[str, str]:
    """The DBT_* variables profiles.yml reads, derived from the settings."""
    env = {"DBT_TARGET": settings.warehouse, "DBT_SCHEMA": schema}
    if settings.warehouse == "duckdb":
        env["DBT_DUCKDB_PATH"] = str(settings.path(settings.duckdb_path))
    elif settings.warehouse == "postgres":
        dsn = urlparse(settings.postgres_dsn)
        env |= {
            "DBT_PG_HOST": dsn.hostname or "127.0.0.1",
            "DBT_PG_PORT": str(dsn.port or 5432),
            "DBT_PG_USER": unquote(dsn.username or "postgres"),
            "DBT_PG_PASSWORD": unquote(dsn.password or ""),
            "DBT_PG_DBNAME": (dsn.path or "/postgres").lstrip("/") or "postgres",
        }
    elif settings.warehouse == "bigquery" and settings.gcs_project:
        env["DBT_BQ_PROJECT"] = settings.gcs_project
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    settings: Settings,
    args: list[str],
    *,
    schema: str = "analytics",
    target_path: Path | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess:
    """`dbt <args>` with the project's profiles and vars; raises with the log tail on failure."""
    cmd = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--vars",
        json.dumps(dbt_vars(settings)),
    ]
    if target_path:
        cmd += ["--target-path", str(target_path)]
    env = child_environment(dbt_env(settings, schema), {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    if target_path:
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=DBT_PROJECT_DIR
    )
    if done.returncode != 0:
        raise ActionlensError(
            f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
        )
    return done
