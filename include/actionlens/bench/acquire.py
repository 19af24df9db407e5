"""Acquisition benchmarks: selecting tonight's ids at HowTo100M scale; ledger writes.

    python -m actionlens.bench.acquire [--rows 1200000] [--ledger 100000]

Starts its own throwaway mongod. Prints seconds per phase and the bulk/one-by-one ratio.
"""

from __future__ import annotations

import argparse
import random
import string
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from actionlens.acquire import ledger
from actionlens.acquire.manifest import apply_filters, read_manifest, select_ids
from actionlens.records import SourceRow


def _ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "_-"
    return ["".join(rng.choices(alphabet, k=11)) for _ in range(n)]


def write_manifest(path: Path, ids: list[str]) -> None:
    cats = [
        "Food and Entertaining",
        "Home and Garden",
        "Cars & Other Vehicles",
        "Hobbies and Crafts",
    ]
    with open(path, "w") as fh:
        fh.write("video_id,category_1,category_2,rank,task_id\n")
        for i, vid in enumerate(ids):
            fh.write(f"{vid},{cats[i % 4]},Sub {i % 97},{1 + i % 200},{10000 + i % 23000}\n")


def bench_selection(db, work: Path, rows: int, ledger_size: int) -> None:
    ids = _ids(rows, seed=1)
    manifest_path = work / "HowTo100M_v1.csv"
    write_manifest(manifest_path, ids)
    videos = db["videos"]
    known = ids[:: max(1, rows // ledger_size)][:ledger_size]
    now = datetime.now(UTC)
    for start in range(0, len(known), 20_000):
        ledger.register(
            videos,
            [
                SourceRow(video_id=v, category_1="x", category_2="y", rank=1, task_id="1")
                for v in known[start : start + 20_000]
            ],
            now,
        )
    t0 = time.perf_counter()
    manifest = read_manifest(manifest_path)
    t1 = time.perf_counter()
    manifest = apply_filters(manifest, max_rank=150)
    known_set = ledger.known_ids(videos)
    retry = ledger.retry_ids(videos, now, 5, 3600)
    t2 = time.perf_counter()
    chosen = select_ids(manifest, known_set, retry[:0], budget=500)
    t3 = time.perf_counter()
    assert not set(chosen) & known_set
    print(f"selection: manifest {rows:,} rows, ledger {len(known_set):,} ids")
    print(f"  read+validate manifest  {t1 - t0:6.2f} s")
    print(f"  filter + ledger ids     {t2 - t1:6.2f} s")
    print(f"  select 500 new ids      {t3 - t2:6.2f} s")
    print(f"  total                   {t3 - t0:6.2f} s")


def bench_ledger_writes(db, bulk_n: int, single_n: int) -> None:
    rows = [
        SourceRow(video_id=v, category_1="x", category_2="y", rank=1, task_id="1")
        for v in _ids(bulk_n, 2)
    ]
    coll = db["bench_bulk"]
    t0 = time.perf_counter()
    for start in range(0, bulk_n, 5_000):
        ledger.register(coll, rows[start : start + 5_000])
    bulk_rate = bulk_n / (time.perf_counter() - t0)
    single = db["bench_single"]
    t0 = time.perf_counter()
    for row in rows[:single_n]:
        ledger.register(single, [row])  # the same upsert, one round trip per document
    single_rate = single_n / (time.perf_counter() - t0)
    assert coll.count_documents({}) == bulk_n and single.count_documents({}) == single_n
    print(
        f"ledger upserts: bulk {bulk_rate:,.0f} docs/s ({bulk_n:,}), one-by-one {single_rate:,.0f} docs/s "
        f"({single_n:,}); ratio {bulk_rate / single_rate:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--ledger", type=int, default=100_000)
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--single", type=int, default=3_000)
    args = parser.parse_args(argv)
    import pymongo

    from actionlens.store.embedded import EmbeddedMongo

    with tempfile.TemporaryDirectory(prefix="actionlens-bench-") as tmp:
        server = EmbeddedMongo(Path(tmp) / "mongo")
        client = pymongo.MongoClient(server.start())
        try:
            db = client["bench"]
            bench_selection(db, Path(tmp), args.rows, args.ledger)
            bench_ledger_writes(db, args.bulk, args.single)
        finally:
            client.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
