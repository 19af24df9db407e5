"""Warehouse connections that replace a set of videos' rows in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from actionlens.errors import ConfigurationError
from actionlens.settings import Settings
from actionlens.warehouse.tables import LOADED_TABLES, TABLES, create_statements


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
        import duckdb

        self.con = duckdb.connect(path)
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
