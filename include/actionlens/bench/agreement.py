"""Benchmarks of agreement scoring and of the confidence warehouse.

    python -m actionlens.bench.agreement                    # both parts
    python -m actionlens.bench.agreement --only scoring --pairs 10000 --reference-sample 40
    python -m actionlens.bench.agreement --only dbt --rows 1000000

Parts:
  scoring  10k node-field pairs of realistic lengths (5 fields per node, the configured
           source pairs: reference vs each opinion and ours, opinions vs each other),
           lexical + semantic, batched (rapidfuzz over all cores, each distinct text
           embedded once, model loaded once, on the configured embedding backend: ONNX
           Runtime on the CPU, its one-time export counted in the load) against a
           straightforward reference in the same run: a Python loop calling
           python-Levenshtein per pair (run on every pair; numbers must be identical) and
           the sentence model loaded per call encoding each pair separately (run on a
           small sample and extrapolated, as it takes ~0.5 s per pair). Goal ≥ 20×.
  dbt      `dbt build` (models, data tests, unit tests) on DuckDB over generated raw
           tables holding --rows node-agreement rows: wall seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

PARTS = ("scoring", "dbt")
VOCAB = [
    "the",
    "a",
    "person",
    "woman",
    "man",
    "hands",
    "slowly",
    "carefully",
    "pours",
    "whisks",
    "cuts",
    "slices",
    "stirs",
    "wooden",
    "metal",
    "bowl",
    "pan",
    "board",
    "knife",
    "table",
    "counter",
    "dough",
    "batter",
    "flour",
    "sugar",
    "oil",
    "water",
    "then",
    "again",
    "while",
    "holding",
    "pressing",
    "turning",
    "lifting",
    "placing",
    "onto",
    "into",
    "from",
    "over",
    "under",
    "beside",
    "left",
    "right",
    "small",
    "large",
    "bright",
    "kitchen",
    "workshop",
    "garden",
    "tool",
    "screw",
    "drill",
    "brush",
    "paint",
    "wall",
    "edge",
    "surface",
]
# (field, words): mean lengths from the Action100M paper; detailed summaries run 90–500.
FIELD_WORDS = [
    ("summary_brief", (15, 25)),
    ("summary_detailed", (90, 500)),
    ("action_brief", (2, 4)),
    ("action_detailed", (20, 35)),
    ("action_actor", (3, 8)),
]


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def _edit(rng: random.Random, text: str, share: float) -> str:
    words = text.split()
    for i in range(len(words)):
        if rng.random() < share:
            words[i] = rng.choice(VOCAB)
    return " ".join(words)


def make_pairs(n_pairs: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of the configured source pairs (AgreementSettings().pairs) per node and field.

    Each node-field has one text per source: the reference, and opinions that either
    paraphrase it (60%) or say something else; every configured pair of them is scored,
    as the platform does, so a text takes part in several pairs.
    """
    from actionlens.settings import AgreementSettings

    config = AgreementSettings()
    sources = sorted({s for pair in config.pairs for s in pair} - {config.reference_source})
    rng = random.Random(seed)
    a: list[str] = []
    b: list[str] = []
    while len(a) < n_pairs:
        for _field, (lo, hi) in FIELD_WORDS:
            ref = "N/A" if rng.random() < 0.034 else _text(rng, lo, hi)
            texts = {config.reference_source: ref}
            for source in sources:
                agree = rng.random() < 0.6
                texts[source] = (
                    _edit(rng, ref, 0.3) if agree and ref != "N/A" else _text(rng, lo, hi)
                )
            for x, y in config.pairs:
                a.append(texts[x])
                b.append(texts[y])
    return a[:n_pairs], b[:n_pairs]


def reference_lexical(a: str, b: str) -> float:
    import Levenshtein

    x, y = a.strip().lower(), b.strip().lower()
    if not x and not y:
        return 1.0
    if not x or not y:
        return 0.0
    return 1.0 - Levenshtein.distance(x, y) / max(len(x), len(y))


def reference_semantic(a: str, b: str) -> float:
    """The naive way: load the model for this call and encode just this pair."""
    from actionlens.models.text import load_sentence_model

    model = load_sentence_model()
    va, vb = model.encode([a.strip().casefold(), b.strip().casefold()], normalize_embeddings=True)
    return max(0.0, float(np.dot(va, vb)))


def bench_scoring(n_pairs: int, sample: int) -> dict:
    from actionlens.agreement.lexical import lexical_batch
    from actionlens.agreement.semantic import Embedder
    from actionlens.models.text import load_sentence_model
    from actionlens.settings import AgreementSettings

    a, b = make_pairs(n_pairs)
    load_sentence_model()  # warm imports for both sides (torch, tokenizers)

    config = AgreementSettings()
    cache = tempfile.TemporaryDirectory(prefix="actionlens-bench-onnx-")
    t0 = time.perf_counter()
    embedder = Embedder(
        backend=config.embedding_backend,
        cache_dir=cache.name,
        batch_size=config.embedding_batch_size,
    )
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    lexical = lexical_batch(a, b)
    t_lex = time.perf_counter() - t0
    t0 = time.perf_counter()
    semantic = embedder.similarity(a, b)
    t_sem = time.perf_counter() - t0
    from actionlens.agreement.language import Coverage, LanguageDetector

    detector = LanguageDetector(
        Coverage.of(
            config.embedding_languages, config.embedding_scripts, config.language_min_probability
        )
    )
    detector.one("load the detector's model before timing")
    detector.cache.clear()
    detector.detected = 0
    t0 = time.perf_counter()
    flagged = sum(not covered for _, _, covered in detector.pairs(a, b))
    t_lang = time.perf_counter() - t0
    fast_total = t_load + t_lex + t_sem + t_lang

    t0 = time.perf_counter()
    ref_lexical = np.array([reference_lexical(x, y) for x, y in zip(a, b, strict=True)])
    t_ref_lex = time.perf_counter() - t0
    idx = random.Random(1).sample(range(n_pairs), min(sample, n_pairs))
    t0 = time.perf_counter()
    ref_sem = [reference_semantic(a[i], b[i]) for i in idx]
    t_ref_sem_each = (time.perf_counter() - t0) / len(idx)
    cache.cleanup()
    ref_total = t_ref_lex + t_ref_sem_each * n_pairs

    return {
        "part": "scoring",
        "pairs": n_pairs,
        "embedding_backend": type(embedder.model).__name__,
        "distinct_texts_embedded": embedder.encoded,
        "lexical_identical": bool(np.array_equal(lexical, ref_lexical)),
        "semantic_max_abs_diff_on_sample": float(
            max(abs(semantic[i] - s) for i, s in zip(idx, ref_sem, strict=True))
        ),
        "fast_seconds": {
            "model_load": round(t_load, 3),
            "lexical": round(t_lex, 3),
            "semantic": round(t_sem, 3),
            "language": round(t_lang, 3),
            "total": round(fast_total, 3),
        },
        # Language detection beside the sentence model, each on distinct texts.
        "language": {
            "detector": detector.version,
            "distinct_texts_per_second": round(detector.detected / t_lang),
            "embedding_distinct_texts_per_second": round(embedder.encoded / t_sem),
            "share_of_scoring_time": round(t_lang / (t_lex + t_sem + t_lang), 3),
            "pairs_flagged": flagged,
        },
        "fast_pairs_per_second": {
            "lexical": round(n_pairs / t_lex),
            "semantic": round(n_pairs / t_sem),
            "language": round(n_pairs / t_lang),
            "total_incl_model_load": round(n_pairs / fast_total),
        },
        "reference_seconds": {
            "lexical_measured_all_pairs": round(t_ref_lex, 3),
            "semantic_per_pair_measured": round(t_ref_sem_each, 4),
            "semantic_sample": len(idx),
            "semantic_extrapolated": round(t_ref_sem_each * n_pairs, 1),
            "total_extrapolated": round(ref_total, 1),
        },
        "reference_pairs_per_second": {
            "lexical": round(n_pairs / t_ref_lex),
            "semantic": round(1 / t_ref_sem_each, 2),
        },
        "speedup": {
            "lexical": round(t_ref_lex / t_lex, 1),
            "semantic": round(t_ref_sem_each * n_pairs / t_sem, 1),
            "total": round(ref_total / fast_total, 1),
        },
        "goal_met": ref_total / fast_total >= 20,
    }


def generate_raw(path: Path, rows: int, schema: str = "raw") -> dict:
    """Raw tables with `rows` node-score rows: 5 fields × 2 pairs × 10 scored nodes/video."""
    import duckdb

    from actionlens.warehouse.tables import create_statements

    per_video = 5 * 2 * 10
    videos = max(1, rows // per_video)
    con = duckdb.connect(str(path))
    for sql in create_statements(schema):
        con.execute(sql)
    con.execute(f"""
        insert into {schema}.raw_videos
        select printf('v%010d', i), 'title ' || i, null, 90.0, '20200101', 1, 1, 'Food', 'Recipes',
               '1', 'Make Pancakes', 'stored', null, 90.0, 30.0, now(), now(), now()
        from range({videos}) t(i)""")
    # 19 nodes per video: a root, 9 scored mid nodes, 9 leaves (tiers root/mid/leaf).
    con.execute(f"""
        insert into {schema}.raw_nodes
        select printf('v%010d-n%02d', v, n), printf('v%010d', v), 'action100m',
               case when n = 0 then null when n <= 9 then printf('v%010d-n00', v)
                    else printf('v%010d-n%02d', v, n - 9) end,
               case when n = 0 then 0 when n <= 9 then 1 else 2 end,
               n * 1.0, n * 1.0 + 1, 'gpt,molmo2,qwen3vl', 'plm', now(), true
        from range({videos}) a(v), range(19) b(n)""")
    con.execute(f"""
        insert into {schema}.raw_node_scores
        select printf('v%010d', v), printf('v%010d-n%02d', v, n), 'action100m',
               case when n = 0 then 0 else 1 end, f.field, 'gpt', p.source,
               random(), random(), 'en', 'en', 'Latin', 'Latin', true, 'py3langid-0.4.0',
               'agreement-1/all-MiniLM-L6-v2', timestamp '2026-11-01' + to_days(cast(v % 20 as integer)), now(),
               true
        from range({videos}) a(v), range(10) b(n),
             (values ('summary_brief'), ('summary_detailed'), ('action_brief'),
                     ('action_detailed'), ('action_actor')) f(field),
             (values ('qwen3vl'), ('molmo2')) p(source)""")
    counts = {
        t: con.execute(f"select count(*) from {schema}.{t}").fetchone()[0]
        for t in ("raw_videos", "raw_nodes", "raw_node_scores")
    }
    con.close()
    return counts


def bench_dbt(rows: int) -> dict:
    from actionlens.settings import Settings
    from actionlens.warehouse.dbt import run_dbt

    with tempfile.TemporaryDirectory(prefix="actionlens-bench-dbt-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        counts = generate_raw(path, rows)
        t_gen = time.perf_counter() - t0
        settings = Settings(duckdb_path=str(path), warehouse="duckdb")
        t0 = time.perf_counter()
        done = run_dbt(settings, ["build"], target_path=Path(tmp) / "target", timeout=3600)
        t_build = time.perf_counter() - t0
        summary = [
            ln for ln in done.stdout.splitlines() if "Done." in ln or "Finished running" in ln
        ]
    return {
        "part": "dbt",
        "raw_rows": counts,
        "generate_seconds": round(t_gen, 2),
        "dbt_build_seconds": round(t_build, 2),
        "dbt_summary": [s.split("  ", 1)[-1] for s in summary],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actionlens.bench.agreement", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--only", choices=PARTS, action="append")
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--reference-sample", type=int, default=40)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    for part in args.only or PARTS:
        result = (
            bench_scoring(args.pairs, args.reference_sample)
            if part == "scoring"
            else bench_dbt(args.rows)
        )
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
