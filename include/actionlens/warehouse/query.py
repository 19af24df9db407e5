"""Read the confidence marts back (for FiftyOne tags and the dashboard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actionlens.settings import Settings


def query(
    settings: Settings,
    sql: str,
    params: Sequence[Any] = (),
    schema: str | None = None,
    *,
    snapshot: bool = False,
) -> list[dict]:
    """Rows of `sql` as dicts; `{schema}` in `sql` names `schema` (default: the marts',
    `warehouse_schemas.marts`).

    Placeholders are `?` (translated for Postgres). An absent mart gives no rows. With
    `snapshot` (readers that must not wait for a build: the dashboard), DuckDB is read
    from the last published snapshot of the marts, or from the warehouse itself until a
    build has published one; a warehouse another process holds raises WarehouseLocked.
    """
    sql = sql.replace("{schema}", f'"{schema or settings.warehouse_schemas.marts}"')
    if settings.warehouse == "duckdb":
        import duckdb

        from actionlens.warehouse.backends import connect_duckdb
        from actionlens.warehouse.snapshot import snapshot_path

        path = settings.path(settings.duckdb_path)
        if snapshot and snapshot_path(settings).exists():
            path = snapshot_path(settings)
        if not path.exists():
            return []
        con = connect_duckdb(path, read_only=True)
        try:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except duckdb.CatalogException:
            return []
        finally:
            con.close()
    import psycopg2
    import psycopg2.errors

    con = psycopg2.connect(settings.postgres_dsn)
    try:
        with con, con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable:
        return []
    finally:
        con.close()


def video_confidence(
    settings: Settings, video_ids: Sequence[str] | None = None, schema: str | None = None
) -> dict[str, dict]:
    """video_id → {confidence_semantic, confidence_lexical, tags: [...]} from fct_video_confidence."""
    rows = query(
        settings,
        "select video_id, confidence_semantic, confidence_lexical, tags from {schema}.fct_video_confidence",
        schema=schema,
    )
    wanted = set(video_ids) if video_ids is not None else None
    return {
        r["video_id"]: {
            "confidence_semantic": r["confidence_semantic"],
            "confidence_lexical": r["confidence_lexical"],
            "tags": [t for t in (r["tags"] or "").split(",") if t],
        }
        for r in rows
        if wanted is None or r["video_id"] in wanted
    }


def fiftyone_sample_url(settings: Settings, video_id: str) -> str | None:
    """The FiftyOne App URL that opens the video's sample (None if not published yet).

    The App opens the sample view for `?id=<sample id>`; ids change when a video is
    republished, so they are looked up in the warehouse when the link is followed.
    """
    from urllib.parse import quote

    from actionlens.warehouse.tables import FIFTYONE_SAMPLES

    rows = query(
        settings,
        f"select dataset, sample_id from {{schema}}.{FIFTYONE_SAMPLES} where video_id = ?",
        [video_id],
        schema=settings.warehouse_schemas.raw,
        snapshot=True,  # the dashboard's snapshot: never waits on a DuckDB writer
    )
    if not rows:
        return None
    app = settings.fiftyone.app_url.rstrip("/")
    return f"{app}/datasets/{quote(rows[0]['dataset'])}?id={quote(rows[0]['sample_id'])}"
