"""Run the dbt project in dbt/ against the configured warehouse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from actionlens.errors import ActionlensError
from actionlens.settings import REPO_ROOT, Settings, child_environment
from actionlens.telemetry import TELEMETRY_OFF

DBT_PROJECT_DIR = REPO_ROOT / "dbt"


def dbt_vars(settings: Settings) -> dict:
    cfg = settings.agreement
    return {
        "raw_schema": settings.warehouse_schemas.raw,
        "reference_source": cfg.reference_source,
        "opinion_sources": list(cfg.opinion_sources),
        "qwen_source": cfg.qwen_source,
        "molmo_source": cfg.molmo_source,
        "workshop_field": cfg.workshop_field,
    }


def dbt_env(settings: Settings, schema: str | None = None) -> dict[str, str]:
    """The DBT_* variables profiles.yml reads, derived from the settings; DBT_SCHEMA, the
    schema dbt builds in, is `schema` or else the marts' (`warehouse_schemas.marts`)."""
    schema = schema or settings.warehouse_schemas.marts
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
    schema: str | None = None,
    target_path: Path | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """`dbt <args>` with the project's profiles and vars; raises with the log tail on
    failure (with `check`)."""
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
    env = child_environment(dbt_env(settings, schema), TELEMETRY_OFF)
    if target_path:
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=DBT_PROJECT_DIR
    )
    if check and done.returncode != 0:
        raise ActionlensError(
            f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
        )
    return done


def failed_nodes(target_path: Path) -> list[dict[str, Any]]:
    """What failed in a dbt invocation, from its run_results.json and manifest.json:
    one {kind, model, rule, column, status, message, failures} per failed or erroring node
    (`rule` is the test's name: not_null, between, a unit test's name …)."""
    try:
        results = json.loads((target_path / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    try:
        manifest = json.loads((target_path / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    out = []
    for result in results:
        if result.get("status") not in ("fail", "error", "runtime error"):
            continue
        uid = result.get("unique_id", "")
        node = nodes.get(uid, {})
        kind = uid.split(".", 1)[0]
        model = rule = column = None
        if kind == "test":
            meta = node.get("test_metadata") or {}
            rule = meta.get("name") or node.get("name")
            column = node.get("column_name") or (meta.get("kwargs") or {}).get("column_name")
            attached = node.get("attached_node") or next(
                iter((node.get("depends_on") or {}).get("nodes") or []), None
            )
            model = attached.rsplit(".", 1)[-1] if attached else None
        elif kind == "unit_test":
            rule, model = node.get("name") or uid.rsplit(".", 1)[-1], node.get("model")
        else:
            model = node.get("name") or uid.rsplit(".", 1)[-1]
        out.append(
            {
                "kind": kind,
                "model": model,
                "rule": rule,
                "column": column,
                "status": result.get("status"),
                "message": (result.get("message") or "").strip(),
                "failures": result.get("failures"),
            }
        )
    return out


def describe_failure(node: dict[str, Any]) -> str:
    """One line naming the model and rule of a failed dbt node."""
    where = node["model"] or "?"
    if node["column"]:
        where += f".{node['column']}"
    if node["kind"] == "test":
        rows = f" ({node['failures']} failing rows)" if node["failures"] else ""
        return f"data test `{node['rule']}` on {where} failed{rows}: {node['message']}"
    if node["kind"] == "unit_test":
        return f"unit test `{node['rule']}` of model {where} failed: {node['message']}"
    return f"{node['kind']} {where} {node['status']}: {node['message']}"


def build_warehouse(
    settings: Settings, *, schema: str | None = None, target_path: Path | None = None
) -> dict[str, Any]:
    """One `dbt build` of the whole project (dbt parses it once), then, on DuckDB, a new
    snapshot of the marts for the dashboard.

    A failing model or test raises naming each model and rule; the dashboard keeps the
    last good snapshot and shows that this build failed.
    """
    from actionlens.warehouse.snapshot import (
        publish_snapshot,
        read_status,
        record_build_failure,
        warehouse_path,
    )

    if settings.warehouse == "duckdb":
        from actionlens.warehouse.backends import connect_duckdb

        warehouse_path(settings).parent.mkdir(parents=True, exist_ok=True)
        connect_duckdb(warehouse_path(settings)).close()  # a held lock: name its holder now
    own = target_path is None
    target = target_path or Path(tempfile.mkdtemp(prefix="actionlens-dbt-"))
    started = time.perf_counter()
    try:
        done = run_dbt(settings, ["build"], schema=schema, target_path=target, check=False)
        elapsed = round(time.perf_counter() - started, 2)
        if done.returncode != 0:
            failed = failed_nodes(target)
            lines = [describe_failure(n) for n in failed] or [
                "dbt build failed before running any node:",
                (done.stdout[-3000:] + done.stderr[-1000:]).strip(),
            ]
            message = f"dbt build failed ({len(failed)} nodes):\n" + "\n".join(
                f"  - {line}" for line in lines
            )
            if settings.warehouse == "duckdb":
                kept = read_status(settings).get("built_at")
                record_build_failure(settings, message)
                message += (
                    f"\nThe dashboard keeps the snapshot of the build of {kept}."
                    if kept
                    else "\nNo build has succeeded yet: the dashboard has no marts."
                )
            message += (
                "\nFix the rows the rule rejects (in MongoDB, then load-warehouse) or the "
                "model, then clear this task."
            )
            raise ActionlensError(message)
        counts: dict[str, int] = {}
        for result in json.loads((target / "run_results.json").read_text())["results"]:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        summary: dict[str, Any] = {
            "warehouse": settings.warehouse,
            "seconds": elapsed,
            "nodes": counts,
        }
        snapshot = publish_snapshot(settings, schema=schema)
        if snapshot:
            summary["snapshot"] = snapshot
        return summary
    finally:
        if own:
            shutil.rmtree(target, ignore_errors=True)
