"""The captions benchmark runs end to end on a small scale."""

from __future__ import annotations

import pytest

from actionlens.bench import captions as bench

pytestmark = pytest.mark.integration  # mongod and/or HTTP on loopback


def test_aggregation_benchmark_overlaps_requests():
    result = bench.aggregation(nodes=8, latency=0.05, concurrency=8, sequential_nodes=2)
    assert result["sequential"]["ok"] == 2 and result["concurrent"]["ok"] == 8
    assert result["concurrent"]["max_in_flight"] == 8
    assert result["speedup"] > 0  # the ratio itself is measured by the benchmark, not asserted


def test_extraction_benchmark_counts_nodes_and_frames():
    result = bench.extraction(6.0)
    assert result["nodes"] >= 3 and result["frames"] == 32 * result["nodes"] + result["leaves"]
    assert result["nodes_per_s"] > 0
