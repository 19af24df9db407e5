"""Benchmarks of the lenses: `python -m actionlens.bench.opinions`.

1. Transcript lens: sentences/s of all-MiniLM-L6-v2 on CPU, batched vs one at a time,
   and their ratio.
2. Neighbour search: exact k nearest neighbours of every video for `--videos` videos x
   3 lenses (random unit vectors of each lens's dimension), vectorised in blocks:
   seconds per lens and in total, plus the cross-lens overlap.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

WORDS = [
    "crack",
    "whisk",
    "pour",
    "bowl",
    "pan",
    "flour",
    "sugar",
    "oven",
    "knife",
    "board",
    "cut",
    "slice",
    "tighten",
    "bolt",
    "wheel",
    "brush",
    "paint",
    "fence",
    "wall",
    "sand",
    "glue",
    "paper",
    "fold",
    "stitch",
    "fabric",
    "water",
    "pot",
    "boil",
    "stir",
]


def sentences(n: int, seed: int = 0) -> list[str]:
    """Transcript-like sentences of 8 to 24 words."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(WORDS, size=int(rng.integers(8, 25)))).capitalize() + "."
        for _ in range(n)
    ]


def transcript_lens(n: int, batch_size: int, single: int) -> dict[str, Any]:
    from actionlens.models.text import load_sentence_model

    model = load_sentence_model(None, "cpu")
    texts = sentences(n)
    model.encode(texts[:batch_size], batch_size=batch_size, show_progress_bar=False)  # warm-up
    t = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    batched = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for text in texts[:single]:
        model.encode([text], batch_size=1, normalize_embeddings=True, show_progress_bar=False)
    one = single / (time.perf_counter() - t)
    return {
        "sentences": n,
        "batch_size": batch_size,
        "batched_per_s": round(batched, 1),
        "one_at_a_time_per_s": round(one, 1),
        "ratio": round(batched / one, 2),
    }


def neighbour_search(videos: int, dims: list[int], k: int, block: int) -> dict[str, Any]:
    from actionlens.lenses.vectors import normalize, shared_neighbours, top_k

    rng = np.random.default_rng(0)
    per_lens, found = {}, {}
    total = time.perf_counter()
    for i, dim in enumerate(dims):
        x = normalize(rng.standard_normal((videos, dim), dtype=np.float32))
        t = time.perf_counter()
        idx, _ = top_k(x, k, block=block)
        per_lens[f"lens{i}_d{dim}"] = round(time.perf_counter() - t, 2)
        found[i] = idx
    search = time.perf_counter() - total
    t = time.perf_counter()
    ids = [str(v) for v in range(videos)]
    lists = {i: dict(zip(ids, idx.tolist(), strict=True)) for i, idx in found.items()}
    shared = shared_neighbours(lists[0], lists[1])
    overlap = time.perf_counter() - t
    return {
        "videos": videos,
        "lenses": len(dims),
        "k": k,
        "block": block,
        "seconds_per_lens": per_lens,
        "search_seconds": round(search, 2),
        "overlap_seconds_one_pair": round(overlap, 2),
        "mean_shared_random": round(float(np.mean(list(shared.values()))), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m actionlens.bench.opinions", description=__doc__.splitlines()[0]
    )
    p.add_argument("--sentences", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--single", type=int, default=256, help="sentences encoded one at a time")
    p.add_argument("--videos", type=int, default=100_000)
    p.add_argument(
        "--dims",
        default="384,256,256",
        help="lens dimensions (MiniLM transcript, frame baseline, a video model truncated to 256)",
    )
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--block", type=int, default=2048)
    p.add_argument("--only", choices=("transcript", "neighbours"), default=None)
    args = p.parse_args(argv)
    result = {}
    if args.only in (None, "transcript"):
        result["transcript_lens"] = transcript_lens(args.sentences, args.batch_size, args.single)
    if args.only in (None, "neighbours"):
        dims = [int(d) for d in args.dims.split(",")]
        result["neighbours"] = neighbour_search(args.videos, dims, args.k, args.block)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
