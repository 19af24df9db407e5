"""Commands of the benchmarks that run inside a step's own environment (a GPU pod)."""

from __future__ import annotations

import argparse

from actionlens.cli import command


def _bench_args(p: argparse.ArgumentParser) -> None:
    from actionlens.bench.segment import add_arguments

    add_arguments(p)


@command(
    "bench-segment",
    "benchmark decoding, tree building and embedding (see actionlens.bench.segment)",
    _bench_args,
)
def bench_segment(args: argparse.Namespace) -> dict:
    from actionlens.bench.segment import run

    return run(args)
