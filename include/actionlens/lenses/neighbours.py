"""Nearest neighbours per lens and their cross-lens overlap, over every stored vector.

MongoDB `neighbours` (_id "<video_id>:<lens>"): {video_id, lens, model_id, k,
neighbours: [{video_id, score, rank}], updated_at}. `neighbour_overlap`
(_id "<video_id>:<lens_a>:<lens_b>", lens_a < lens_b): {video_id, lens_a, lens_b, k,
shared, fraction, updated_at}. Each run replaces both for the lenses it covers, so videos
that lost their vector lose their rows.
"""

from __future__ import annotations

import itertools
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from actionlens.lenses.vectors import shared_neighbours, top_k
from actionlens.settings import Settings
from actionlens.store.mongo import LENSES, NEIGHBOURS

log = logging.getLogger(__name__)

OVERLAP = "neighbour_overlap"


def load_vectors(db, lens: str, model_id: str) -> tuple[list[str], np.ndarray]:
    """Ids and vectors of one lens made by one model (other models' vectors live in
    another space and are left out)."""
    ids, rows = [], []
    for doc in db[LENSES].find(
        {"lens": lens, "model_id": model_id, "status": "ok"}, {"video_id": 1, "vector": 1}
    ):
        ids.append(doc["video_id"])
        rows.append(doc["vector"])
    return ids, (np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 0), np.float32))


def neighbour_lists(
    ids: list[str], vectors: np.ndarray, k: int
) -> dict[str, list[tuple[str, float]]]:
    if len(ids) < 2:
        return {vid: [] for vid in ids}
    idx, sims = top_k(vectors, k)
    return {
        vid: [(ids[j], float(s)) for j, s in zip(idx[i], sims[i], strict=True)]
        for i, vid in enumerate(ids)
    }


def compute_neighbours(settings: Settings, *, db=None, k: int | None = None) -> dict[str, Any]:
    from pymongo import DeleteMany, UpdateOne

    from actionlens.store.mongo import connect

    db = db if db is not None else connect(settings)
    k = k or settings.opinions.k
    now = datetime.now(UTC)
    started = time.monotonic()
    lists: dict[str, dict[str, list[tuple[str, float]]]] = {}
    report: dict[str, Any] = {"k": k, "lenses": {}, "overlap": {}}
    for spec in settings.opinions.lenses:
        ids, vectors = load_vectors(db, spec.lens, spec.model_id)
        t0 = time.monotonic()
        found = neighbour_lists(ids, vectors, k)
        lists[spec.lens] = found
        ops: list[Any] = [DeleteMany({"lens": spec.lens, "video_id": {"$nin": ids}})]
        ops += [
            UpdateOne(
                {"_id": f"{vid}:{spec.lens}"},
                {
                    "$set": {
                        "video_id": vid,
                        "lens": spec.lens,
                        "model_id": spec.model_id,
                        "k": k,
                        "neighbours": [
                            {"video_id": n, "score": round(s, 6), "rank": r + 1}
                            for r, (n, s) in enumerate(near)
                        ],
                        "updated_at": now,
                    }
                },
                upsert=True,
            )
            for vid, near in found.items()
        ]
        db[NEIGHBOURS].bulk_write(ops, ordered=True)
        report["lenses"][spec.lens] = {
            "videos": len(ids),
            "model_id": spec.model_id,
            "seconds": round(time.monotonic() - t0, 3),
        }
    for a, b in itertools.combinations(sorted(lists), 2):
        shared = shared_neighbours(
            {v: [n for n, _ in near] for v, near in lists[a].items()},
            {v: [n for n, _ in near] for v, near in lists[b].items()},
        )
        ops = [DeleteMany({"lens_a": a, "lens_b": b, "video_id": {"$nin": list(shared)}})]
        ops += [
            UpdateOne(
                {"_id": f"{vid}:{a}:{b}"},
                {
                    "$set": {
                        "video_id": vid,
                        "lens_a": a,
                        "lens_b": b,
                        "k": k,
                        "shared": n,
                        # Out of the neighbours both lenses have (fewer than k in a small corpus).
                        "fraction": round(
                            n / max(1, min(len(lists[a][vid]), len(lists[b][vid]))), 6
                        ),
                        "updated_at": now,
                    }
                },
                upsert=True,
            )
            for vid, n in shared.items()
        ]
        db[OVERLAP].bulk_write(ops, ordered=True)
        values = list(shared.values())
        report["overlap"][f"{a}:{b}"] = {
            "videos": len(values),
            "mean_shared": round(float(np.mean(values)), 3) if values else None,
        }
    report["seconds"] = round(time.monotonic() - started, 3)
    return report
