"""Action100M-shaped records and parquet files, generated (the real data may not be shared).

Used by tests, the demo and the benchmarks. Files are written with DuckDB under the exact
public schema: int16 levels, float32 boundaries, nested structs and lists.
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

METADATA_TYPE = (
    "STRUCT(title VARCHAR, description VARCHAR, view_count BIGINT, like_count BIGINT, "
    'duration BIGINT, upload_date VARCHAR, transcript STRUCT("time" VARCHAR, "text" VARCHAR)[])'
)
NODE_TYPE = (
    'STRUCT(node_id VARCHAR, parent_id VARCHAR, level SMALLINT, "start" FLOAT, "end" FLOAT, '
    "plm_action VARCHAR, plm_caption VARCHAR, llama3_caption VARCHAR, "
    "gpt STRUCT(summary STRUCT(brief VARCHAR, detailed VARCHAR), "
    "action STRUCT(brief VARCHAR, detailed VARCHAR, actor VARCHAR)))"
)
COLUMNS = {"video_uid": "VARCHAR", "metadata": METADATA_TYPE, "nodes": f"{NODE_TYPE}[]"}

VERBS = ["whisk", "pour", "cut", "tighten", "sand", "fold", "stir", "measure", "attach", "wipe"]
OBJECTS = ["the batter", "a bolt", "the board", "dough", "the wire", "a sheet", "the glaze"]
ACTORS = ["a person", "a woman in an apron", "a man with gloves", "a pair of hands"]
WORDS = [
    "the",
    "person",
    "carefully",
    "moves",
    "tool",
    "bowl",
    "table",
    "hand",
    "slowly",
    "then",
    "again",
    "while",
    "holding",
    "small",
    "large",
    "wooden",
    "metal",
    "surface",
    "edge",
    "top",
    "side",
    "left",
    "right",
    "into",
    "onto",
    "from",
    "with",
    "over",
    "under",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def annotation(rng: random.Random, na: bool = False) -> dict[str, Any]:
    verb, obj = rng.choice(VERBS), rng.choice(OBJECTS)
    action = (
        {"brief": "N/A", "detailed": "N/A", "actor": "N/A"}
        if na
        else {
            "brief": f"{verb} {obj}",
            "detailed": f"{verb.capitalize()} {obj} " + sentence(rng, 24),
            "actor": rng.choice(ACTORS),
        }
    )
    return {
        "summary": {"brief": sentence(rng, 19), "detailed": sentence(rng, 90)},
        "action": action,
    }


def make_tree(rng: random.Random, duration: float, min_leaf: float = 0.5) -> list[dict]:
    """A full binary tree tiling [0, duration], listed by (level, start)."""
    nodes: list[dict] = []

    def grow(parent_id: str | None, level: int, start: float, end: float) -> None:
        node_id = str(uuid.UUID(int=rng.getrandbits(128)))
        span = end - start
        nodes.append(
            {
                "node_id": node_id,
                "parent_id": parent_id,
                "level": level,
                "start": start,
                "end": end,
                "leaf": True,
            }
        )
        if span < 2 * min_leaf or (level > 1 and rng.random() < 0.3) or span < 1.5:
            return
        cut = round(rng.uniform(start + min_leaf, end - min_leaf), 3)
        nodes[-1]["leaf"] = False
        grow(node_id, level + 1, start, cut)
        grow(node_id, level + 1, cut, end)

    grow(None, 0, 0.0, float(duration))
    nodes.sort(key=lambda n: (n["level"], n["start"]))
    return nodes


def make_record(
    video_id: str,
    *,
    duration: float = 90.0,
    seed: int = 0,
    na_share: float = 0.05,
    transcript_lines: int = 6,
) -> dict[str, Any]:
    """One parquet row with a released-tree-shaped hierarchy and texts on the right nodes."""
    rng = random.Random(f"{video_id}:{seed}")
    tree = make_tree(rng, duration)
    nodes = []
    for n in tree:
        leaf = n.pop("leaf")
        span = n["end"] - n["start"]
        nodes.append(
            {
                **n,
                "plm_action": f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}",
                "plm_caption": sentence(rng, 40),
                "llama3_caption": sentence(rng, 60) if leaf else None,
                "gpt": annotation(rng, na=rng.random() < na_share)
                if (not leaf and span >= 4.0)
                else None,
            }
        )
    step = duration / max(1, transcript_lines)
    return {
        "video_uid": video_id,
        "metadata": {
            "title": f"How to {rng.choice(VERBS)} {rng.choice(OBJECTS)}",
            "description": sentence(rng, 12),
            "view_count": rng.randint(0, 10**6),
            "like_count": rng.randint(0, 10**4),
            "duration": int(round(duration)),
            "upload_date": "20190314",
            "transcript": [
                {"time": f"{i * step:.2f}", "text": sentence(rng, 8)}
                for i in range(transcript_lines)
            ],
        },
        "nodes": nodes,
    }


def write_parquet(records: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write rows under the exact Action100M schema."""
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
        tmp = fh.name
    con = duckdb.connect()
    try:
        columns = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
        con.execute(
            f"copy (select video_uid, metadata, nodes from read_json('{tmp}', "
            f"format='newline_delimited', columns={{{columns}}})) to '{path}' (format parquet)"
        )
    finally:
        con.close()
        Path(tmp).unlink(missing_ok=True)
    return path


def opinion(reference: dict[str, Any], rng: random.Random, agree: bool) -> dict[str, Any]:
    """A second opinion on a node: the reference lightly edited, or an unrelated answer."""
    if not agree:
        return annotation(rng)

    def edit(text: str | None) -> str | None:
        if not text or text == "N/A":
            return text
        words = text.split()
        i = rng.randrange(len(words))
        words[i] = rng.choice(WORDS)
        return " ".join(words)

    return {
        group: {k: edit(v) for k, v in (reference.get(group) or {}).items()}
        for group in ("summary", "action")
    }


def add_opinions(db, sources: dict[str, float], seed: int = 0) -> int:
    """Give every node with a `gpt` annotation an opinion per source.

    `sources` maps a source name to its probability of agreeing with the reference.
    """
    from pymongo import UpdateOne

    rng = random.Random(seed)
    ops = []
    for node in db["nodes"].find({"annotations.gpt": {"$exists": True}}):
        ref = node["annotations"]["gpt"]
        fields = {
            f"annotations.{name}": opinion(ref, rng, rng.random() < p)
            for name, p in sources.items()
        }
        ops.append(UpdateOne({"_id": node["_id"]}, {"$set": fields}))
    if ops:
        db["nodes"].bulk_write(ops, ordered=False)
    return len(ops)
