"""MongoDB access: one client per process, the embedded server when no URI is set."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from actionlens.settings import Settings

if TYPE_CHECKING:
    from pymongo.database import Database

VIDEOS = "videos"
NODES = "nodes"
LENSES = "lenses"  # per video and lens: vector, model, zero-shot category
NEIGHBOURS = "neighbours"  # per video and lens: its k nearest videos
SCORES = "scores"  # agreement per node, field and pair of sources
TEMPORAL_SCORES = "temporal_scores"  # agreement of boundaries per video and pair of segmenters


def mongo_uri(settings: Settings) -> str:
    """The configured URI, or that of the embedded mongod (started if needed)."""
    if settings.mongo_uri:
        return settings.mongo_uri
    from actionlens.store.embedded import EmbeddedMongo

    return EmbeddedMongo(settings.home / "mongo", mongod_bin=settings.mongod_bin).start()


@lru_cache(maxsize=8)
def _client(uri: str):
    import pymongo

    return pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000)


def servers(client) -> str:
    """The host:port of each server a client talks to (never the URI: it may hold a password)."""
    try:
        seeds = client.topology_description.server_descriptions().keys()
    except Exception:  # noqa: BLE001 - a description of the outage must not fail itself
        return "the configured MongoDB"
    return ", ".join(f"{host}:{port}" for host, port in seeds) or "the configured MongoDB"


def unreachable(exc: BaseException, client=None) -> str:
    """What a person reads when MongoDB stops answering: which server, what to do."""
    where = servers(client) if client is not None else "the configured MongoDB"
    first = str(exc).split(",")[0].split(" (configured timeouts")[0][:200]
    return (
        f"MongoDB at {where} did not answer ({type(exc).__name__}: {first}). Start it "
        "(`python -m actionlens mongo start` for the embedded server) or check mongo_uri, "
        "then rerun the step: it resumes where the ledger says"
    )


def connect(settings: Settings) -> Database:
    """The platform database with its indexes in place."""
    db = _client(mongo_uri(settings))[settings.mongo_db]
    ensure_indexes(db)
    return db


def ensure_indexes(db: Database) -> None:
    """Idempotent: creating an index that exists is a no-op."""
    from pymongo import ASCENDING

    videos = db[VIDEOS]
    # _id is the YouTube id: one document per video by construction.
    videos.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)])
    videos.create_index([("updated_at", ASCENDING)])
    nodes = db[NODES]
    # _id is the node id; a tree is addressed by video and segmenter version.
    nodes.create_index([("video_id", ASCENDING), ("segmenter", ASCENDING), ("level", ASCENDING)])
