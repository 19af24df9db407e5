"""Warehouse connections that replace a set of videos' rows in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actionlens.errors import ConfigurationError
from actionlens.settings import Settings
from actionlens.warehouse.tables import LOADED_TABLES, TABLES, create_statements


class Warehouse(Protocol):
    schema: str

    def ensure_tables(self) -> None: ...

    def replace(
        self,
        video_ids: Sequence[str],
        rows: dict[str, list[tuple]],
        tables: Sequence[str] = LOADED_TABLES,
    ) -> None:
        """Delete the videos' rows from `tables` and insert `rows` into them, atomically."""

    def close(self) -> None: ...


def _check_tables(rows: dict[str, list[tuple]], tables: Sequence[str]) -> None:
    unknown = sorted(set(tables) - set(TABLES))
    stray = sorted(set(rows) - set(tables))
    if unknown or stray:
        raise ValueError(f"replace: unknown tables {unknown}, rows outside `tables` {stray}")


class DuckDBWarehouse:
    def __init__(self, path: str, schema: str):
        import duckdb

        self.con = duckdb.connect(path)
        self.schema = schema

    def ensure_tables(self) -> None:
        for sql in create_statements(self.schema):
            self.con.execute(sql)

    def replace(
        self,
        video_ids: Sequence[str],
        rows: dict[str, list[tuple]],
        tables: Sequence[str] = LOADED_TABLES,
    ) -> None:
        _check_tables(rows, tables)
        import pandas as pd

        con = self.con
        con.execute("begin transaction")
        try:
            for table in tables:
                con.execute(
                    f'delete from "{self.schema}"."{table}" where video_id in (select unnest(?))',
                    [list(video_ids)],
                )
            for table, data in rows.items():
                if not data:
                    continue
                frame = pd.DataFrame.from_records(data, columns=list(TABLES[table]))  # noqa: F841
                con.execute(f'insert into "{self.schema}"."{table}" select * from frame')
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def close(self) -> None:
        self.con.close()


class PostgresWarehouse:
    def __init__(self, dsn: str, schema: str):
        import psycopg2

        self.con = psycopg2.connect(dsn)
        self.schema = schema

    def ensure_tables(self) -> None:
        with self.con, self.con.cursor() as cur:
            for sql in create_statements(self.schema):
                cur.execute(sql)

    def replace(
        self,
        video_ids: Sequence[str],
        rows: dict[str, list[tuple]],
        tables: Sequence[str] = LOADED_TABLES,
    ) -> None:
        _check_tables(rows, tables)
        from psycopg2.extras import execute_values

        # `with connection` is one transaction: committed on success, rolled back on error.
        with self.con, self.con.cursor() as cur:
            for table in tables:
                cur.execute(
                    f'delete from "{self.schema}"."{table}" where video_id = any(%s)',
                    (list(video_ids),),
                )
            for table, data in rows.items():
                if data:
                    cols = ", ".join(f'"{c}"' for c in TABLES[table])
                    execute_values(
                        cur,
                        f'insert into "{self.schema}"."{table}" ({cols}) values %s',
                        data,
                        page_size=5000,
                    )

    def close(self) -> None:
        self.con.close()


def open_warehouse(settings: Settings) -> Warehouse:
    schema = settings.agreement.raw_schema
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
