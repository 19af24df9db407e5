"""Warehouse connections that replace a set of videos' rows in one transaction."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from actionlens.errors import ActionlensError, ConfigurationError
from actionlens.settings import Settings
from actionlens.warehouse.tables import LOADED_TABLES, TABLES, create_statements


class WarehouseLocked(ActionlensError):
    """Another process holds the DuckDB file's lock; the message names it and what to do."""

    def __init__(self, path: str, pid: int | None, command: str | None):
        holder = f"process {pid} ({command or 'command unknown'})" if pid else "another process"
        super().__init__(
            f"the DuckDB warehouse {path} is held by {holder}. DuckDB allows one writing "
            "process per file: wait for that process to finish (Airflow tasks that write the "
            "warehouse queue in the `actionlens_warehouse` pool, one slot), or stop it if it "
            f"is stale{f' (kill {pid})' if pid else ''}, then rerun or clear this task"
        )
        self.path, self.pid, self.command = path, pid, command


def lock_holder(message: str) -> tuple[int | None, str | None]:
    """The pid in DuckDB's lock error and that process's command line (None if gone)."""
    found = re.search(r"\(PID (\d+)\)", message)
    if not found:
        return None, None
    pid = int(found.group(1))
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        held_in = re.search(r"lock is held in (.+?) \(PID", message)
        return pid, held_in.group(1) if held_in else None
    return pid, " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def connect_duckdb(path: str | Path, read_only: bool = False):
    """A DuckDB connection; a file locked by another process raises WarehouseLocked."""
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        pid, command = lock_holder(str(exc))
        raise WarehouseLocked(str(path), pid, command) from None


class Warehouse:
    """A raw-table connection; backends say how to delete, insert and commit."""

    schema: str

    def ensure_tables(self) -> None:
        with self.transaction() as cur:
            for sql in create_statements(self.schema):
                cur.execute(sql)

    def replace(
        self,
        video_ids: Sequence[str],
        rows: dict[str, list[tuple]],
        tables: Sequence[str] = LOADED_TABLES,
    ) -> None:
        """Delete the videos' rows from `tables` and insert `rows` into them, atomically."""
        unknown = sorted(set(tables) - set(TABLES))
        stray = sorted(set(rows) - set(tables))
        if unknown or stray:
            raise ValueError(f"replace: unknown tables {unknown}, rows outside `tables` {stray}")
        with self.transaction() as cur:
            for table in tables:
                self.delete(cur, table, list(video_ids))
            for table, data in rows.items():
                if data:
                    self.insert(cur, table, data)

    def replace_all(self, table: str, data: list[tuple]) -> None:
        """Swap the whole of `table` for `data`, atomically (corpus-wide tables)."""
        if table not in TABLES:
            raise ValueError(f"replace_all: unknown table {table!r}")
        with self.transaction() as cur:
            cur.execute(f'delete from "{self.schema}"."{table}"')
            if data:
                self.insert(cur, table, data)

    def transaction(self) -> AbstractContextManager:
        """A cursor whose work commits on exit and rolls back on an error."""
        raise NotImplementedError

    def delete(self, cur, table: str, video_ids: list[str]) -> None:
        raise NotImplementedError

    def insert(self, cur, table: str, data: list[tuple]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.con.close()


class DuckDBWarehouse(Warehouse):
    def __init__(self, path: str, schema: str):
        self.con = connect_duckdb(path)
        self.schema = schema

    @contextmanager
    def transaction(self) -> Iterator:
        self.con.execute("begin transaction")
        try:
            yield self.con
        except BaseException:
            self.con.execute("rollback")
            raise
        self.con.execute("commit")

    def delete(self, cur, table: str, video_ids: list[str]) -> None:
        cur.execute(
            f'delete from "{self.schema}"."{table}" where video_id in (select unnest(?))',
            [video_ids],
        )

    def insert(self, cur, table: str, data: list[tuple]) -> None:
        import pandas as pd

        frame = pd.DataFrame.from_records(data, columns=list(TABLES[table]))  # noqa: F841
        # By name: a table made before a column was added holds it at the end.
        cols = ", ".join(f'"{c}"' for c in TABLES[table])
        cur.execute(f'insert into "{self.schema}"."{table}" ({cols}) select * from frame')


class PostgresWarehouse(Warehouse):
    def __init__(self, dsn: str, schema: str):
        import psycopg2

        self.con = psycopg2.connect(dsn)
        self.schema = schema

    @contextmanager
    def transaction(self) -> Iterator:
        # `with connection` is one transaction: committed on success, rolled back on error.
        with self.con, self.con.cursor() as cur:
            yield cur

    def delete(self, cur, table: str, video_ids: list[str]) -> None:
        cur.execute(f'delete from "{self.schema}"."{table}" where video_id = any(%s)', (video_ids,))

    def insert(self, cur, table: str, data: list[tuple]) -> None:
        from psycopg2.extras import execute_values

        cols = ", ".join(f'"{c}"' for c in TABLES[table])
        execute_values(
            cur, f'insert into "{self.schema}"."{table}" ({cols}) values %s', data, page_size=5000
        )


def open_warehouse(settings: Settings) -> Warehouse:
    schema = settings.warehouse_schemas.raw
    if settings.warehouse == "duckdb":
        path = settings.path(settings.duckdb_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return DuckDBWarehouse(str(path), schema)
    if settings.warehouse == "postgres":
        return PostgresWarehouse(settings.postgres_dsn, schema)
    raise ConfigurationError(
        f"warehouse={settings.warehouse!r}: the loader writes DuckDB or Postgres; for BigQuery "
        "load the raw tables with a transfer job (the dbt profile `bigquery` models them)"
    )
