"""The MongoDB → warehouse loader on DuckDB and Postgres: counts, reruns, atomicity."""

from __future__ import annotations

import uuid

import pytest

from actionlens.agreement.score import score_videos
from actionlens.reference.action100m import import_files
from actionlens.testing.action100m import add_opinions, make_record, write_parquet
from actionlens.warehouse.backends import open_warehouse
from actionlens.warehouse.load import load_videos
from test_agreement_scores import fake_embedder

IDS = ["wwwwwwwwww1", "wwwwwwwwww2"]
pytestmark = pytest.mark.integration


@pytest.fixture
def scored(settings, db, tmp_path):
    path = write_parquet([make_record(v, duration=40.0) for v in IDS], tmp_path / "a.parquet")
    import_files(settings, [str(path)])
    add_opinions(db, {"qwen3vl": 0.7, "molmo2": 0.4})
    score_videos(settings, IDS, embedder=fake_embedder())
    return settings


def _counts(settings):
    import duckdb

    con = duckdb.connect(str(settings.path(settings.duckdb_path)), read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ("raw_videos", "raw_nodes", "raw_node_scores", "raw_temporal_scores")
        }
    finally:
        con.close()


def test_duckdb_load_copies_every_row(scored, db):
    result = load_videos(scored)
    counts = _counts(scored)
    assert counts["raw_videos"] == result["raw_videos"] == 2
    assert counts["raw_nodes"] == db.nodes.count_documents({})
    assert counts["raw_node_scores"] == db.scores.count_documents({}) > 0


def test_duckdb_reload_replaces_instead_of_duplicating(scored, db):
    load_videos(scored)
    first = _counts(scored)
    load_videos(scored, [IDS[0]])
    load_videos(scored)
    assert _counts(scored) == first
    db.scores.delete_many({"video_id": IDS[0]})
    load_videos(scored, [IDS[0]])
    assert _counts(scored)["raw_node_scores"] == db.scores.count_documents({})


def test_lens_facts_are_loaded_without_vectors_and_replaced(scored, db):
    from actionlens.warehouse.query import query

    lens = {"video_id": IDS[0], "lens": "transcript", "model_id": "m", "status": "ok",
            "dim": 2, "vector": [0.6, 0.8], "category": {"label": "Food", "score": 0.5}}  # fmt: skip
    db.lenses.insert_one({"_id": f"{IDS[0]}:transcript", **lens})
    load_videos(scored)
    sql = "select * from {schema}.raw_video_lenses"
    (row,) = query(scored, sql, schema="raw")
    assert (row["status"], row["dim"], row["category"], row["category_score"]) == (
        "ok", 2, "Food", 0.5,
    )  # fmt: skip
    assert "vector" not in row
    db.lenses.update_one({"_id": f"{IDS[0]}:transcript"}, {"$unset": {"category": ""}})
    load_videos(scored, [IDS[0]])
    assert [r["category"] for r in query(scored, sql, schema="raw")] == [None]


def _neighbours(video_id: str, near: list[str]) -> dict:
    return {
        "_id": f"{video_id}:transcript",
        "video_id": video_id,
        "lens": "transcript",
        "model_id": "m",
        "k": 2,
        "neighbours": [{"video_id": n, "score": 0.5, "rank": r + 1} for r, n in enumerate(near)],
    }


def test_neighbours_are_replaced_whole(scored, db):
    from actionlens.warehouse.load import load_neighbours
    from actionlens.warehouse.query import query

    sql = "select video_id, neighbour_rank, neighbour_video_id from {schema}.raw_video_neighbours"
    db.neighbours.insert_many([_neighbours(IDS[0], [IDS[1]]), _neighbours(IDS[1], [IDS[0]])])
    assert load_neighbours(scored)["raw_video_neighbours"] == 2
    assert load_neighbours(scored)["raw_video_neighbours"] == 2  # a rerun converges
    assert len(query(scored, sql, schema="raw")) == 2
    # A new search: IDS[1] lost its vector (no list), IDS[0] has a new list.
    db.neighbours.delete_many({})
    db.neighbours.insert_one(_neighbours(IDS[0], ["zzzzzzzzzz1", IDS[1]]))
    load_neighbours(scored)
    assert sorted(tuple(r.values()) for r in query(scored, sql, schema="raw")) == [
        (IDS[0], 1, "zzzzzzzzzz1"),
        (IDS[0], 2, IDS[1]),
    ]
    load_videos(scored)  # per-video loads leave the corpus-wide table alone
    assert len(query(scored, sql, schema="raw")) == 2


def test_duckdb_failed_replace_keeps_previous_rows(scored):
    load_videos(scored)
    before = _counts(scored)
    wh = open_warehouse(scored)
    try:
        with pytest.raises(Exception):  # noqa: B017 - any insert error must roll back
            wh.replace(IDS, {"raw_videos": [("too", "short")]})
    finally:
        wh.close()
    assert _counts(scored) == before


def test_reload_keeps_fiftyone_links_and_replace_refuses_stray_tables(scored):
    from actionlens.publish.dataset import record_samples
    from actionlens.warehouse.query import query

    load_videos(scored)
    assert record_samples(scored, "ds", IDS, {IDS[0]: "s0", IDS[1]: "s1"}) == 2
    load_videos(scored)  # the loader owns the Mongo tables only
    links = "select video_id, sample_id from {schema}.raw_fiftyone_samples order by 1"
    assert [r["sample_id"] for r in query(scored, links, schema="raw")] == ["s0", "s1"]
    assert record_samples(scored, "ds", IDS, {IDS[1]: "s1b"}) == 1  # IDS[0] left the dataset
    assert query(scored, links, schema="raw") == [{"video_id": IDS[1], "sample_id": "s1b"}]
    wh = open_warehouse(scored)
    try:
        with pytest.raises(ValueError, match="raw_fiftyone_samples"):
            wh.replace(IDS, {"raw_fiftyone_samples": []})  # not a loader table
        with pytest.raises(ValueError, match="raw_nowhere"):
            wh.replace(IDS, {}, tables=["raw_nowhere"])
    finally:
        wh.close()


@pytest.fixture
def pg_settings(scored):
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:10]}_raw"
    dsn = "postgresql://postgres@127.0.0.1:5432/test"
    cfg = scored.model_copy(
        update={
            "warehouse": "postgres",
            "postgres_dsn": dsn,
            "warehouse_schemas": scored.warehouse_schemas.model_copy(update={"raw": schema}),
        }
    )
    yield cfg
    con = psycopg2.connect(dsn)
    with con, con.cursor() as cur:
        cur.execute(f'drop schema if exists "{schema}" cascade')
    con.close()


def test_postgres_load_is_idempotent(pg_settings, db):
    import psycopg2

    from actionlens.publish.dataset import record_samples
    from actionlens.warehouse.load import load_neighbours

    load_videos(pg_settings)
    db.neighbours.insert_one(_neighbours(IDS[0], [IDS[1]]))
    load_neighbours(pg_settings)
    load_neighbours(pg_settings)
    record_samples(pg_settings, "ds", IDS, {IDS[0]: "s0"})
    load_videos(pg_settings)
    record_samples(pg_settings, "ds", IDS, {IDS[0]: "s0b"})
    con = psycopg2.connect(pg_settings.postgres_dsn)
    schema = pg_settings.warehouse_schemas.raw
    with con, con.cursor() as cur:
        cur.execute(f'select count(*) from "{schema}".raw_node_scores')
        scores = cur.fetchone()[0]
        cur.execute(f'select count(distinct video_id), count(*) from "{schema}".raw_videos')
        videos = cur.fetchone()
        cur.execute(f'select video_id, sample_id from "{schema}".raw_fiftyone_samples')
        links = cur.fetchall()
        cur.execute(f'select video_id, neighbour_video_id from "{schema}".raw_video_neighbours')
        neighbours = cur.fetchall()
    con.close()
    assert scores == db.scores.count_documents({})
    assert videos == (2, 2)
    assert links == [(IDS[0], "s0b")]
    assert neighbours == [(IDS[0], IDS[1])]
