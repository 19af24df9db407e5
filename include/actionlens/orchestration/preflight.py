"""`python -m actionlens preflight [--create-pool]`: what the DAGs need from Airflow and
the machine, checked before the scheduler runs them (by `make up`, the demo and tests),
so a missing pool or connection is named now, not at 3 a.m.

- the warehouse pool (`actionlens_warehouse`, one slot) when the warehouse is DuckDB:
  every task that writes the file queues in it. `--create-pool` creates it (or sets it
  back to one slot); it is idempotent, so every start may run it.
- the Kubernetes connection the pod operator uses (`pods.kubernetes_conn_id`) when
  `runner` is `kubernetes`,
- the dbt executable the warehouse build runs,
- a DuckDB warehouse file held by a process: a warning naming it and what to do (a
  running warehouse task holds it legitimately).

Reads the Airflow metadata database of the current environment (AIRFLOW_HOME /
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN); Airflow is imported only here, when run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from actionlens.cli import command
from actionlens.errors import ConfigurationError
from actionlens.orchestration.defaults import WAREHOUSE_POOL
from actionlens.settings import Settings

POOL_SLOTS = 1
POOL_DESCRIPTION = (
    "DuckDB allows one writing process per file: every task that writes the embedded "
    "warehouse runs in this pool (created by `python -m actionlens preflight --create-pool`)"
)


def check_pool(settings: Settings, create: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The pool's state (created or fixed with `create`) and the problems left."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from sqlalchemy.exc import OperationalError, ProgrammingError

    needed = settings.warehouse == "duckdb"
    try:
        with create_session() as session:
            pool = Pool.get_pool(WAREHOUSE_POOL, session=session)
            before = pool.slots if pool is not None else None
            if create and before != POOL_SLOTS:
                Pool.create_or_update_pool(
                    WAREHOUSE_POOL,
                    slots=POOL_SLOTS,
                    description=POOL_DESCRIPTION,
                    include_deferred=False,
                    session=session,
                )
            after = POOL_SLOTS if create else before
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc).splitlines()[0]
        return {"name": WAREHOUSE_POOL, "needed": needed}, [
            f"the Airflow metadata database cannot be read ({reason}): run "
            "`airflow db migrate` with this environment's AIRFLOW_HOME first"
        ]
    state = {
        "name": WAREHOUSE_POOL,
        "needed": needed,
        "slots": after,
        "created": create and before is None,
        "fixed": create and before is not None and before != POOL_SLOTS,
    }
    problems = []
    if needed and after is None:
        problems.append(
            f"Airflow pool {WAREHOUSE_POOL!r} is missing: every task that writes the DuckDB "
            "warehouse waits in it and would never run. Create it with "
            f"`python -m actionlens preflight --create-pool` (or `airflow pools set "
            f"{WAREHOUSE_POOL} {POOL_SLOTS} warehouse`)"
        )
    elif needed and after != POOL_SLOTS:
        problems.append(
            f"Airflow pool {WAREHOUSE_POOL!r} has {after} slots: DuckDB allows one writing "
            "process, so two writers would fail on the file lock. Set it to one slot with "
            "`python -m actionlens preflight --create-pool`"
        )
    return state, problems


def check_connections(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Each Airflow connection the DAGs use under these settings: found or missing."""
    wanted = {}
    if settings.runner == "kubernetes":
        wanted[settings.pods.kubernetes_conn_id] = (
            "the KubernetesPodOperator's cluster (runner=kubernetes, pods.kubernetes_conn_id)"
        )
    if not wanted:
        return {}, []
    from airflow.models.connection import Connection

    found, problems = {}, []
    for conn_id, used_for in wanted.items():
        try:
            Connection.get_connection_from_secrets(conn_id)
            found[conn_id] = "found"
        except Exception as exc:  # AirflowNotFoundException, or a secrets backend's own
            found[conn_id] = "missing"
            problems.append(
                f"Airflow connection {conn_id!r} ({used_for}) is not defined "
                f"({type(exc).__name__}): add it in the UI (Admin → Connections), with "
                f"`airflow connections add {conn_id} …`, or as AIRFLOW_CONN_{conn_id.upper()}"
            )
    return found, problems


def check_warehouse(settings: Settings) -> tuple[dict[str, Any], list[str], list[str]]:
    """dbt is installed (else a problem); a DuckDB file held by a process right now is a
    warning naming it."""
    from actionlens.warehouse.dbt import dbt_executable

    state: dict[str, Any] = {"warehouse": settings.warehouse, "dbt": dbt_executable()}
    problems, warnings = [], []
    if shutil.which(state["dbt"]) is None:
        problems.append(
            f"dbt executable {state['dbt']!r} not found: install requirements.txt "
            "(dbt-core with the warehouse's adapter) into this environment"
        )
    if settings.warehouse == "duckdb":
        from actionlens.warehouse.backends import WarehouseLocked, connect_duckdb

        path = settings.path(settings.duckdb_path)
        state["duckdb_path"] = str(path)
        if path.exists():
            try:
                connect_duckdb(path, read_only=True).close()
                state["duckdb_lock"] = "free"
            except WarehouseLocked as exc:
                state["duckdb_lock"] = {"pid": exc.pid, "command": exc.command}
                warnings.append(str(exc))
    return state, problems, warnings


def preflight(settings: Settings, *, create_pool: bool = False) -> dict[str, Any]:
    """Run every check; raise ConfigurationError naming each problem, else the states."""
    pool, pool_problems = check_pool(settings, create=create_pool)
    connections, conn_problems = check_connections(settings)
    warehouse, wh_problems, warnings = check_warehouse(settings)
    for warning in warnings:
        print(f"actionlens preflight: warning: {warning}", file=sys.stderr)
    problems = [*pool_problems, *conn_problems, *wh_problems]
    if problems:
        raise ConfigurationError(
            "preflight found "
            + (f"{len(problems)} problems" if len(problems) > 1 else "a problem")
            + ":\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return {
        "ok": True,
        "pool": pool,
        "connections": connections,
        "warehouse": warehouse,
        "warnings": warnings,
    }


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create-pool",
        action="store_true",
        help=f"create the {WAREHOUSE_POOL!r} pool with one slot if it is missing or differs",
    )


@command(
    "preflight",
    "check the Airflow pool, connections and warehouse the DAGs need (--create-pool)",
    _arguments,
)
def preflight_command(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings

    return preflight(get_settings(), create_pool=args.create_pool)
