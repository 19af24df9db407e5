"""The marts snapshot the dashboard reads, and the build status it shows.

DuckDB refuses even a read-only open while another process writes the file, so readers
that must never wait for a build (the dashboard) read a copy: after each successful
`dbt build` the marts (every table of the marts schema) and the FiftyOne sample links
are copied into `<warehouse>.snapshot.duckdb`, written beside it and swapped in with one
rename. A failed build leaves the last good snapshot in place and records the failure in
`<warehouse>.status.json`, which the dashboard shows next to the data's age.

Writers call these while holding the warehouse (the `actionlens_warehouse` pool).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actionlens.settings import Settings
from actionlens.warehouse.backends import connect_duckdb
from actionlens.warehouse.tables import FIFTYONE_SAMPLES


def warehouse_path(settings: Settings) -> Path:
    return settings.path(settings.duckdb_path)


def snapshot_path(settings: Settings) -> Path:
    path = warehouse_path(settings)
    return path.with_name(f"{path.stem}.snapshot.duckdb")


def status_path(settings: Settings) -> Path:
    path = warehouse_path(settings)
    return path.with_name(f"{path.stem}.status.json")


def read_status(settings: Settings) -> dict[str, Any]:
    """{built_at, published_at, failed_at, failure} (ISO times; {} before the first build)."""
    try:
        return json.loads(status_path(settings).read_text())
    except FileNotFoundError:
        return {}


def _write_status(settings: Settings, status: dict[str, Any]) -> None:
    path = status_path(settings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_build_failure(settings: Settings, message: str) -> dict[str, Any]:
    """Say that the last build failed (the snapshot stays the last good one)."""
    status = read_status(settings) | {"failed_at": _now(), "failure": message}
    _write_status(settings, status)
    return status


def publish_snapshot(
    settings: Settings, *, marts: bool = True, schema: str | None = None
) -> dict[str, Any] | None:
    """Copy the marts (with `marts`; else keep the current snapshot's) and the FiftyOne
    sample links into a new snapshot file and swap it in atomically.

    With `marts` this is a new build: the status records when, and clears the failure.
    Without it (after publish-fiftyone) only the links are refreshed; None when there is
    no snapshot yet (the next build brings the links along).
    """
    if settings.warehouse != "duckdb":
        return None
    snap = snapshot_path(settings)
    tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    if not marts:
        if not snap.exists():
            return None
        shutil.copyfile(snap, tmp)
    raw = settings.warehouse_schemas.raw
    schema = schema or settings.warehouse_schemas.marts
    con = connect_duckdb(warehouse_path(settings))
    try:
        quoted = str(tmp).replace("'", "''")
        con.execute(f"attach '{quoted}' as snap")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_type = 'BASE TABLE' "
            "and ((table_schema = ? and ?) or (table_schema = ? and table_name = ?)) "
            "order by 1, 2",
            [schema, marts, raw, FIFTYONE_SAMPLES],
        ).fetchall()
        for table_schema, table in tables:
            con.execute(f'create schema if not exists snap."{table_schema}"')
            con.execute(
                f'create or replace table snap."{table_schema}"."{table}" as '
                f'select * from "{table_schema}"."{table}"'
            )
        con.execute("checkpoint snap")
        con.execute("detach snap")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, snap)
    status = read_status(settings) | {"published_at": _now()}
    if marts:
        status |= {"built_at": status["published_at"], "failed_at": None, "failure": None}
    _write_status(settings, status)
    return {"snapshot": str(snap), "tables": [f"{s}.{t}" for s, t in tables], **status}
