"""Throwaway stores for one test (or one module of tests): settings with a database of
their own under a folder, and reading the DuckDB warehouse those settings point at."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from actionlens.settings import Settings


def throwaway_settings(folder: Path, mongo_uri: str, **overrides: Any) -> Settings:
    """Settings whose home, bucket and DuckDB file live in `folder` and whose MongoDB
    database has a fresh random name (`overrides` replace or add fields)."""
    fields: dict[str, Any] = {
        "home": folder / "home",
        "mongo_uri": mongo_uri,
        "mongo_db": f"t_{uuid.uuid4().hex[:12]}",
        "bucket": str(folder / "bucket"),
        "duckdb_path": str(folder / "warehouse.duckdb"),
    }
    return Settings(**(fields | overrides))


def duckdb_rows(settings: Settings, sql: str) -> list[tuple]:
    """All rows of `sql` on the settings' DuckDB warehouse, opened read-only."""
    import duckdb

    con = duckdb.connect(str(settings.path(settings.duckdb_path)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
