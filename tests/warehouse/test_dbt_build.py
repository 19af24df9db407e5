"""dbt build (models, data tests, unit tests) on DuckDB and on the local Postgres.

One build per adapter, shared by the module's tests: dbt invocations are slow.
"""

from __future__ import annotations

import uuid

import pytest

from actionlens.agreement.score import score_videos
from actionlens.reference.action100m import import_files
from actionlens.settings import Settings
from actionlens.testing.action100m import add_opinions, make_record, write_parquet
from actionlens.testing.stores import duckdb_rows, throwaway_settings
from actionlens.warehouse.dbt import run_dbt
from actionlens.warehouse.load import load_neighbours, load_videos
from test_agreement_scores import fake_embedder

pytestmark = pytest.mark.integration
IDS = [f"dbtvideo{i:03d}" for i in range(4)]
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _prepare(settings: Settings, tmp) -> int:
    """Import, add opinions, score and load; returns the node score count in MongoDB."""
    from actionlens.store.mongo import connect

    path = write_parquet(
        [make_record(v, duration=30.0 + 10 * i) for i, v in enumerate(IDS)], tmp / "a.parquet"
    )
    import_files(settings, [str(path)])
    db = connect(settings)
    add_opinions(db, {"qwen3vl": 0.8, "molmo2": 0.3})
    # Texts the sentence model cannot read: unrelated emoji strings, and a Chinese opinion.
    root = db.nodes.find_one({"video_id": IDS[0], "level": 0})
    db.nodes.update_one(
        {"_id": root["_id"]},
        {
            "$set": {
                "annotations.gpt.summary.brief": "🍳🔥👍",
                "annotations.qwen3vl.summary.brief": "🎉✨",
                "annotations.molmo2.summary.brief": "一个人把面粉倒进碗里然后搅拌",
            }
        },
    )
    # One video without its molmo opinion: it gets none of the rules that need one.
    db.nodes.update_many({"video_id": IDS[3]}, {"$unset": {"annotations.molmo2": ""}})
    db.lenses.insert_many(
        [
            {"_id": f"{IDS[0]}:transcript", "video_id": IDS[0], "lens": "transcript",
             "backend": "sentence", "model_id": "all-MiniLM-L6-v2", "baseline": False,
             "version": "lens-1", "status": "ok", "dim": 3, "vector": [1.0, 0.0, 0.0],
             "category": {"label": "Food and Entertaining", "score": 0.42}},
            {"_id": f"{IDS[1]}:transcript", "video_id": IDS[1], "lens": "transcript",
             "backend": "sentence", "model_id": "all-MiniLM-L6-v2", "baseline": False,
             "version": "lens-1", "status": "empty", "dim": None, "vector": None},
        ]
    )  # fmt: skip
    db.neighbours.insert_one(
        {"_id": f"{IDS[0]}:transcript", "video_id": IDS[0], "lens": "transcript",
         "model_id": "all-MiniLM-L6-v2", "k": 2,
         "neighbours": [{"video_id": IDS[2], "score": 0.8, "rank": 1},
                        {"video_id": IDS[3], "score": -0.1, "rank": 2}]}
    )  # fmt: skip
    score_videos(settings, IDS, embedder=fake_embedder())
    load_videos(settings)
    load_neighbours(settings)
    return db.scores.count_documents({})


@pytest.fixture(scope="module")
def duckdb_build(mongod, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbt-duckdb")
    settings = throwaway_settings(tmp, mongod)
    n_scores = _prepare(settings, tmp)
    done = run_dbt(settings, ["build"], target_path=tmp / "target")
    yield settings, n_scores, done.stdout
    from actionlens.store.mongo import connect

    connect(settings).client.drop_database(settings.mongo_db)


@pytest.fixture(scope="module")
def postgres_build(mongod, tmp_path_factory):
    import psycopg2

    tmp = tmp_path_factory.mktemp("dbt-postgres")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    settings = throwaway_settings(
        tmp,
        mongod,
        warehouse="postgres",
        postgres_dsn=PG_DSN,
        warehouse_schemas={"raw": f"{schema}_raw", "marts": schema},
    )
    try:
        n_scores = _prepare(settings, tmp)
        done = run_dbt(settings, ["build"], target_path=tmp / "target")
        yield settings, schema, n_scores, done.stdout
    finally:
        con = psycopg2.connect(PG_DSN)
        with con, con.cursor() as cur:
            for s in (schema, f"{schema}_raw"):
                cur.execute(f'drop schema if exists "{s}" cascade')
        con.close()


def test_duckdb_build_passes_with_unit_tests(duckdb_build):
    _, _, log = duckdb_build
    assert "ERROR=0" in log and "WARN=0" in log
    assert "14 unit tests" in log  # every tag rule (and the category rule) ran as a unit test


def test_duckdb_marts_cover_every_score(duckdb_build):
    settings, n_scores, _ = duckdb_build
    assert (
        duckdb_rows(settings, "select count(*) from analytics.fct_node_agreement")[0][0] == n_scores
    )
    videos = duckdb_rows(
        settings, "select count(*), count(distinct video_id) from analytics.fct_video_confidence"
    )
    assert videos[0] == (len(IDS), len(IDS))
    assert duckdb_rows(settings, "select count(*) from analytics.dim_videos")[0][0] == len(IDS)
    tiers = {
        r[0]
        for r in duckdb_rows(settings, "select distinct tier from analytics.fct_node_agreement")
    }
    assert tiers <= {"root", "mid"} and "root" in tiers  # gpt never annotates leaves
    trend = duckdb_rows(settings, "select sum(n_scores) from analytics.fct_daily_confidence_trend")
    assert trend[0][0] == n_scores


def test_duckdb_marts_flag_pairs_the_sentence_model_cannot_read(duckdb_build):
    settings, n_scores, _ = duckdb_build
    rows = duckdb_rows(
        settings,
        "select pair_name, language_a, language_b, script_b, is_language_uncovered "
        f"from analytics.fct_node_agreement where video_id = '{IDS[0]}' and node_level = 0 "
        "and field = 'summary_brief' order by 1",
    )
    assert rows == [
        ("gpt__molmo2", "zxx", "zh", "Han", True),
        ("gpt__qwen3vl", "zxx", "zxx", "none", True),
        ("qwen3vl__molmo2", "zxx", "zh", "Han", True),
    ]
    flagged = duckdb_rows(
        settings, "select count(*) from analytics.fct_node_agreement where is_language_uncovered"
    )[0][0]
    assert 3 <= flagged < 3 + 0.02 * n_scores  # the generated English is read (kept, not flagged)
    unknown = duckdb_rows(
        settings,
        "select count(*) from analytics.fct_node_agreement where is_language_uncovered is null",
    )
    assert unknown[0][0] == 0


def test_duckdb_videos_carry_the_zero_shot_category(duckdb_build):
    settings, _, _ = duckdb_build
    rows = duckdb_rows(
        settings,
        "select video_id, n_lenses_ok, zero_shot_category, zero_shot_category_score, "
        "zero_shot_category_lens from analytics.dim_videos order by video_id",
    )
    assert rows[0] == (IDS[0], 1, "Food and Entertaining", pytest.approx(0.42), "transcript")
    assert rows[1] == (IDS[1], 0, None, None, None)  # its lens had no transcript to embed


def test_duckdb_neighbours_mart(duckdb_build):
    settings, _, _ = duckdb_build
    rows = duckdb_rows(
        settings,
        "select video_id, neighbour_rank, neighbour_video_id, neighbour_title is not null, "
        "same_category from analytics.fct_video_neighbours order by neighbour_rank",
    )
    # IDS[2] and IDS[3] have no category lens: the comparison is unknown, not false.
    assert rows == [(IDS[0], 1, IDS[2], True, None), (IDS[0], 2, IDS[3], True, None)]


def workshop_tags(lex_q, sem_q, lex_m, sem_m) -> set[str]:
    """The notebook's section-5 TAGS, on one video's four root scores (None: no opinion)."""
    hl = hs = 0.6
    ll, ls = 0.3, 0.5
    if None in (lex_q, sem_q, lex_m, sem_m):  # a missing opinion: only its own rule can hold
        q = lex_q is not None and sem_q >= hs and lex_q >= hl
        m = lex_m is not None and sem_m >= hs and lex_m >= hl
        return {t for t, hit in (("qwen_agrees", q), ("molmo_agrees", m)) if hit}
    rules = {
        "qwen_agrees": sem_q >= hs and lex_q >= hl,
        "molmo_agrees": sem_m >= hs and lex_m >= hl,
        "triple_agreement": sem_q >= hs and sem_m >= hs,
        "triple_disagreement": sem_q < ls and sem_m < ls,
        "qwen_only": sem_q >= hs and sem_m < ls,
        "molmo_only": sem_m >= hs and sem_q < ls,
        "paraphrase": lex_q < ll and sem_q >= hs and lex_m < ll and sem_m >= hs,
    }
    return {t for t, hit in rules.items() if hit}


def test_duckdb_tags_are_the_workshop_rules_on_the_root_scores(duckdb_build):
    settings, _, _ = duckdb_build
    rows = duckdb_rows(
        settings,
        "select video_id, lex_q, sem_q, lex_m, sem_m, tags, n_opinion_sources "
        "from analytics.fct_video_confidence order by video_id",
    )
    for vid, lex_q, sem_q, lex_m, sem_m, tags, n in rows:
        assert set(filter(None, tags.split(","))) == workshop_tags(lex_q, sem_q, lex_m, sem_m), vid
        assert n == (1 if vid == IDS[3] else 2)
    assert rows[3][3] is None and rows[3][4] is None  # IDS[3] has no molmo opinion


def test_duckdb_scores_are_the_root_pairs_of_the_workshop_field(duckdb_build):
    settings, _, _ = duckdb_build
    expected = {}
    for vid, source, lex, sem in duckdb_rows(
        settings,
        "select video_id, opinion_source, lexical, semantic from analytics.fct_node_agreement "
        "where tier = 'root' and field = 'summary_detailed' and opinion_source is not null",
    ):
        expected.setdefault(vid, {})[source] = (lex, sem)
    got = duckdb_rows(
        settings, "select video_id, lex_q, sem_q, lex_m, sem_m from analytics.fct_video_confidence"
    )
    assert len(got) == len(IDS)
    for vid, lex_q, sem_q, lex_m, sem_m in got:
        assert (lex_q, sem_q) == expected[vid]["qwen3vl"]
        assert (lex_m, sem_m) == expected[vid].get("molmo2", (None, None))


def test_duckdb_node_confidence_covers_every_scored_node_and_field(duckdb_build):
    settings, _, _ = duckdb_build
    want = duckdb_rows(
        settings,
        "select count(distinct node_id || field) from analytics.fct_node_agreement "
        "where opinion_source is not null",
    )[0][0]
    assert duckdb_rows(settings, "select count(*) from analytics.fct_node_confidence")[0][0] == want
    tiers = {
        r[0]
        for r in duckdb_rows(settings, "select distinct tier from analytics.fct_node_confidence")
    }
    assert tiers == {"root", "mid"}


def test_postgres_build_matches_duckdb_counts(postgres_build):
    import psycopg2

    settings, schema, n_scores, log = postgres_build
    assert "ERROR=0" in log
    con = psycopg2.connect(PG_DSN)
    with con, con.cursor() as cur:
        cur.execute(f'select count(*) from "{schema}".fct_node_agreement')
        assert cur.fetchone()[0] == n_scores
        cur.execute(f'select count(*) from "{schema}".fct_video_confidence')
        assert cur.fetchone()[0] == len(IDS)
        cur.execute(
            f'select video_id, zero_shot_category from "{schema}".dim_videos '
            "where zero_shot_category is not null"
        )
        assert cur.fetchall() == [(IDS[0], "Food and Entertaining")]
        cur.execute(f'select count(*) from "{schema}".fct_video_neighbours')
        assert cur.fetchone()[0] == 2
    con.close()


def test_unit_tests_hold_whatever_reference_source_is_configured(duckdb_build, tmp_path):
    # The demo checks `ours` against the opinions; the tag rules' unit tests name their
    # own sources and must not depend on that setting.
    settings, _, _ = duckdb_build
    ours = settings.model_copy(
        update={"agreement": settings.agreement.model_copy(update={"reference_source": "ours"})}
    )
    done = run_dbt(ours, ["test", "--select", "test_type:unit"], target_path=tmp_path / "target")
    assert "ERROR=0" in done.stdout and "PASS=14" in done.stdout


def test_each_warehouse_setting_selects_a_profile_target_with_its_connection():
    """The profile has a target per warehouse (BigQuery is provided, not run here: no
    adapter offline), and dbt_env sets the variables that target reads."""
    import re
    from pathlib import Path

    import yaml

    from actionlens.warehouse.dbt import dbt_env

    text = (Path(__file__).resolve().parents[2] / "dbt" / "profiles.yml").read_text()
    outputs = yaml.safe_load(text)["actionlens"]["outputs"]
    assert {"duckdb", "postgres", "bigquery"} <= set(outputs)
    assert outputs["bigquery"]["type"] == "bigquery" and outputs["bigquery"]["method"] == "oauth"
    read = set(re.findall(r"env_var\('(DBT_[A-Z_]+)'", text))
    bigquery = dbt_env(Settings(warehouse="bigquery", gcs_project="my-project"))
    assert bigquery["DBT_TARGET"] == "bigquery" and bigquery["DBT_BQ_PROJECT"] == "my-project"
    postgres = dbt_env(Settings(warehouse="postgres", postgres_dsn="postgresql://u:p@db:6543/w"))
    assert (postgres["DBT_PG_HOST"], postgres["DBT_PG_PORT"], postgres["DBT_PG_DBNAME"]) == (
        "db",
        "6543",
        "w",
    )
    for env in (bigquery, postgres, dbt_env(Settings())):
        assert set(env) <= read  # every variable set is one the profile reads


def test_a_failing_data_test_names_model_and_rule_and_keeps_the_snapshot(duckdb_build, tmp_path):
    import shutil

    import duckdb

    from actionlens.dashboard.page import gather, render
    from actionlens.errors import ActionlensError
    from actionlens.warehouse.dbt import build_warehouse
    from actionlens.warehouse.snapshot import publish_snapshot, read_status

    built, n_scores, _ = duckdb_build
    # A copy of the built warehouse (the module's build stays as it is), its marts
    # published as the last good snapshot.
    settings = built.model_copy(update={"duckdb_path": str(tmp_path / "copy.duckdb")})
    shutil.copyfile(built.path(built.duckdb_path), tmp_path / "copy.duckdb")
    publish_snapshot(settings)
    con = duckdb.connect(str(tmp_path / "copy.duckdb"))
    con.execute(
        "update raw.raw_node_scores set semantic = 1.5 where node_id in "
        "(select node_id from raw.raw_node_scores order by node_id limit 1)"
    )
    bad = con.execute("select count(*) from raw.raw_node_scores where semantic > 1").fetchone()[0]
    con.close()

    with pytest.raises(ActionlensError) as caught:
        build_warehouse(settings, target_path=tmp_path / "target")
    message = str(caught.value)
    assert "data test `between` on stg_actionlens__node_scores.semantic failed" in message
    assert f"({bad} failing rows)" in message
    assert "keeps the snapshot" in message and "clear this task" in message

    status = read_status(settings)
    assert status["failed_at"] and "stg_actionlens__node_scores.semantic" in status["failure"]
    data = gather(settings)  # the last good marts, and the failure beside them
    assert data["n_videos"] == len(IDS)
    assert sum(sum(v) for v in data["histograms"].values()) == n_scores
    assert "The last build failed at" in render(data)
