"""The `videos` ledger: one document per video id and the state machine it follows.

    pending -> downloading -> stored | unavailable | failed
    failed  -> downloading            (after its backoff, up to max_attempts)

Every write is keyed by the video id, so reruns and retries converge.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from actionlens.records import ClipFacts, SourceRow, TranscriptSegment, VideoState

if TYPE_CHECKING:
    from pymongo.collection import Collection

SELECTABLE = [VideoState.PENDING.value, VideoState.FAILED.value]


def now_utc() -> datetime:
    return datetime.now(UTC)


def backoff_seconds(attempts: int, base: int, cap: int) -> int:
    """Exponential backoff after the `attempts`-th failure: base, 2·base, 4·base, … ≤ cap."""
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


def register(videos: Collection, rows: Iterable[SourceRow], now: datetime | None = None) -> int:
    """Upsert manifest rows; new ids start `pending`, known ids keep their state."""
    from pymongo import UpdateOne

    now = now or now_utc()
    ops = [
        UpdateOne(
            {"_id": row.video_id},
            {
                "$set": {
                    "source": row.model_dump(exclude={"video_id", "task_name"}),
                    "task_name": row.task_name,
                },
                "$setOnInsert": {
                    "state": VideoState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": None,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                },
            },
            upsert=True,
        )
        for row in rows
    ]
    if not ops:
        return 0
    result = videos.bulk_write(ops, ordered=False)
    return result.upserted_count


def attach_transcripts(
    videos: Collection, transcripts: dict[str, list[TranscriptSegment]], source: str
) -> int:
    """Set each video's ASR transcript; ids not in the ledger are ignored."""
    from pymongo import UpdateOne

    ops = [
        UpdateOne(
            {"_id": vid},
            {
                "$set": {
                    "transcript": {"source": source, "segments": [s.model_dump() for s in segs]}
                }
            },
        )
        for vid, segs in transcripts.items()
    ]
    if not ops:
        return 0
    return videos.bulk_write(ops, ordered=False).modified_count


def retry_ids(
    videos: Collection, now: datetime, max_attempts: int, lease_seconds: int
) -> list[str]:
    """Ids due for another attempt: pending ones, failed ones past their backoff, and
    downloads whose worker died (lease expired). Unavailable and stored never come back.

    Fewest attempts first, then the longest waiting: an id that keeps failing sinks behind
    fresh work instead of heading the first batch every night (sorting by id did that)."""
    stale = now - timedelta(seconds=lease_seconds)
    query = {
        "$or": [
            {"state": VideoState.PENDING.value},
            {
                "state": VideoState.FAILED.value,
                "attempts": {"$lt": max_attempts},
                "next_attempt_at": {"$lte": now},
            },
            {"state": VideoState.DOWNLOADING.value, "updated_at": {"$lte": stale}},
        ]
    }
    order = [("attempts", 1), ("updated_at", 1), ("_id", 1)]
    return [d["_id"] for d in videos.find(query, {"_id": 1}).sort(order)]


def known_ids(videos: Collection) -> set[str]:
    return {d["_id"] for d in videos.find({}, {"_id": 1})}


def claim(videos: Collection, video_id: str, now: datetime, lease_seconds: int) -> dict | None:
    """Move a selectable video to `downloading` and count the attempt.

    Returns the document, or None when the video is stored, unavailable, exhausted or
    being downloaded by another live worker: then this worker must leave it alone.
    """
    from pymongo import ReturnDocument

    stale = now - timedelta(seconds=lease_seconds)
    return videos.find_one_and_update(
        {
            "_id": video_id,
            "$or": [
                {"state": {"$in": SELECTABLE}},
                {"state": VideoState.DOWNLOADING.value, "updated_at": {"$lte": stale}},
            ],
        },
        {
            "$set": {"state": VideoState.DOWNLOADING.value, "updated_at": now},
            "$inc": {"attempts": 1},
        },
        return_document=ReturnDocument.AFTER,
    )


def mark_stored(
    videos: Collection, video_id: str, clip: ClipFacts, now: datetime | None = None
) -> None:
    now = now or now_utc()
    videos.update_one(
        {"_id": video_id},
        {
            "$set": {
                "state": VideoState.STORED.value,
                "clip": clip.model_dump(),
                "last_error": None,
                "next_attempt_at": None,
                "stored_at": now,
                "updated_at": now,
            }
        },
    )


def mark_unavailable(
    videos: Collection, video_id: str, error: str, now: datetime | None = None
) -> None:
    now = now or now_utc()
    videos.update_one(
        {"_id": video_id},
        {
            "$set": {
                "state": VideoState.UNAVAILABLE.value,
                "last_error": error,
                "next_attempt_at": None,
                "updated_at": now,
            }
        },
    )


def mark_failed(
    videos: Collection,
    video_id: str,
    error: str,
    *,
    attempts: int,
    max_attempts: int,
    base: int,
    cap: int,
    now: datetime | None = None,
) -> datetime | None:
    """Record a transient failure; returns when it may be tried again (None: exhausted)."""
    now = now or now_utc()
    due = (
        now + timedelta(seconds=backoff_seconds(attempts, base, cap))
        if attempts < max_attempts
        else None
    )
    videos.update_one(
        {"_id": video_id},
        {
            "$set": {
                "state": VideoState.FAILED.value,
                "last_error": error,
                "next_attempt_at": due,
                "updated_at": now,
            }
        },
    )
    return due


def summary(videos: Collection) -> dict[str, Any]:
    """Counts by state, for logs and the demo."""
    counts = {s.value: 0 for s in VideoState}
    for row in videos.aggregate([{"$group": {"_id": "$state", "n": {"$sum": 1}}}]):
        counts[row["_id"]] = row["n"]
    counts["total"] = sum(counts[s.value] for s in VideoState)
    return counts
