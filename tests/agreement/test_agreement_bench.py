"""The agreement benchmark's generators and its lexical reference (smoke sizes)."""

from __future__ import annotations

import duckdb
import numpy as np

from actionlens.agreement.lexical import lexical_batch
from actionlens.bench.agreement import generate_raw, make_pairs, reference_lexical


def test_pairs_have_realistic_lengths_and_identical_lexical_scores():
    a, b = make_pairs(200)
    words = [len(t.split()) for t in a if t != "N/A"]
    assert len(a) == len(b) == 200 and max(words) >= 90 and min(words) <= 4
    assert np.array_equal(
        lexical_batch(a, b), np.array([reference_lexical(x, y) for x, y in zip(a, b, strict=True)])
    )


def test_generated_raw_tables_hold_the_requested_rows(tmp_path):
    counts = generate_raw(tmp_path / "w.duckdb", 1000)
    assert counts == {"raw_videos": 10, "raw_nodes": 190, "raw_node_scores": 1000}
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert (
        con.execute("select count(distinct node_id) from raw.raw_node_scores").fetchone()[0] == 100
    )
    con.close()


def test_scoring_benchmark_runs_on_onnx_and_matches_the_reference():
    from actionlens.bench.agreement import bench_scoring

    result = bench_scoring(60, 2)
    assert result["embedding_backend"] == "OnnxSentenceEncoder"
    assert result["lexical_identical"] and result["semantic_max_abs_diff_on_sample"] < 1e-5
    assert result["fast_pairs_per_second"]["semantic"] > 0 and "total" in result["speedup"]
