"""The `videos` ledger: one document per video id and the state machine it follows.

    pending -> downloading -> stored | unavailable | failed
    failed  -> downloading            (after its backoff, up to max_attempts)
    downloading -> downloading        (its lease expired: another worker takes it over)

`downloading` is held under a short lease the worker keeps renewing (see `claim`).

Every write is keyed by the video id, so reruns and retries converge.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actionlens.lifetime import scratch
from actionlens.records import ClipFacts, SourceRow, TranscriptSegment, VideoState, new_video_fields

if TYPE_CHECKING:
    from pymongo.collection import Collection

log = logging.getLogger(__name__)

SELECTABLE = [VideoState.PENDING.value, VideoState.FAILED.value]
# MongoDB refuses documents over 16 MiB; a transcript above this share of it is stored
# whole in the bucket and only its first part (the clip's window) stays in the ledger.
TRANSCRIPT_INLINE_MAX_BYTES = 4 * 1024 * 1024


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
                "$setOnInsert": new_video_fields(now),
            },
            upsert=True,
        )
        for row in rows
    ]
    if not ops:
        return 0
    result = videos.bulk_write(ops, ordered=False)
    return result.upserted_count


def _bson_size(doc: dict) -> int:
    import bson

    return len(bson.encode(doc))


def _store_whole(bucket, video_id: str, source: str, segments: list[dict]) -> dict:
    """Write the whole transcript to the bucket (create-only, keyed by its content)."""
    from actionlens.errors import AlreadyExists

    body = json.dumps({"video_id": video_id, "source": source, "segments": segments}).encode()
    digest = hashlib.sha256(body).hexdigest()
    key = f"transcripts/{video_id}/{digest[:16]}.json"
    with scratch(video_id) as tmp:
        local = Path(tmp) / "transcript.json"
        local.write_bytes(body)
        with contextlib.suppress(AlreadyExists):  # the same content, stored earlier
            bucket.upload(local, key, metadata={"sha256": digest, "video_id": video_id})
    return {
        "uri": bucket.object_uri(key),
        "sha256": digest,
        "bytes": len(body),
        "segments": len(segments),
    }


def transcript_document(
    video_id: str,
    segments: list[TranscriptSegment],
    source: str,
    *,
    dropped: dict[str, int] | None = None,
    bucket=None,
    inline_max_bytes: int = TRANSCRIPT_INLINE_MAX_BYTES,
) -> dict:
    """The ledger's `transcript` of one video. One too large for a ledger document is kept
    whole in the bucket (`full`: uri, sha256, bytes, segments) and the ledger holds the
    segments from the start that fit, marked `complete: false` with `inline_until` (the
    clip is the video's first seconds, so that is the part the stages read)."""
    segs = [s.model_dump() for s in segments]
    doc: dict[str, Any] = {"source": source, "segments": segs, "complete": True}
    if dropped:
        doc["dropped"] = dict(dropped)
    if _bson_size(doc) <= inline_max_bytes:
        return doc
    if bucket is None:
        raise ValueError(f"[{video_id}] transcript over {inline_max_bytes} bytes and no bucket")
    full = _store_whole(bucket, video_id, source, segs)
    budget = inline_max_bytes // 2
    kept: list[dict] = []
    used = 0
    for seg in segs:
        used += len(seg["text"].encode()) + 64  # BSON overhead of one segment, roughly
        if used > budget:
            break
        kept.append(seg)
    log.warning(
        "[%s] transcript of %d segments (%d bytes) is too large for the ledger: stored whole "
        "at %s; the ledger keeps its first %d segments (to %.1f s)",
        video_id,
        len(segs),
        full["bytes"],
        full["uri"],
        len(kept),
        kept[-1]["end"] if kept else 0.0,
    )
    return {
        **doc,
        "segments": kept,
        "complete": False,
        "inline_until": kept[-1]["end"] if kept else 0.0,
        "full": full,
    }


def attach_transcripts(
    videos: Collection,
    transcripts: dict[str, list[TranscriptSegment]],
    source: str,
    *,
    dropped: dict[str, dict[str, int]] | None = None,
    bucket=None,
    inline_max_bytes: int = TRANSCRIPT_INLINE_MAX_BYTES,
) -> int:
    """Set each video's ASR transcript; ids not in the ledger are ignored. One video's
    transcript that cannot be written is logged with its id and never stops the others."""
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError

    dropped = dropped or {}
    ops = [
        UpdateOne(
            {"_id": vid},
            {
                "$set": {
                    "transcript": transcript_document(
                        vid,
                        segs,
                        source,
                        dropped=dropped.get(vid),
                        bucket=bucket,
                        inline_max_bytes=inline_max_bytes,
                    )
                }
            },
        )
        for vid, segs in transcripts.items()
    ]
    if not ops:
        return 0
    try:
        return videos.bulk_write(ops, ordered=False).modified_count
    except BulkWriteError as exc:
        for err in exc.details.get("writeErrors", []):
            vid = ops[err["index"]]._filter["_id"]
            log.error("[%s] transcript not stored: %s", vid, err.get("errmsg"))
        return int(exc.details.get("nModified", 0))


def worker_id() -> str:
    """Who holds a lease: host and process id (a pod's host name is the pod's name)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _expired(now: datetime, lease_seconds: int) -> dict:
    """A download whose lease has run out: its worker stopped renewing it (died, or lost
    the store). A claim recorded before leases carried `until` expires `lease_seconds`
    after its last write."""
    return {
        "state": VideoState.DOWNLOADING.value,
        "$or": [
            {"lease.until": {"$lte": now}},
            {
                "lease.until": {"$exists": False},
                "updated_at": {"$lte": now - timedelta(seconds=lease_seconds)},
            },
        ],
    }


def retry_ids(
    videos: Collection, now: datetime, max_attempts: int, lease_seconds: int
) -> list[str]:
    """Ids due for another attempt: pending ones, failed ones past their backoff, and
    downloads whose worker died (lease expired). Unavailable and stored never come back.

    Fewest attempts first, then the longest waiting: an id that keeps failing sinks behind
    fresh work instead of heading the first batch every night (sorting by id did that)."""
    query = {
        "$or": [
            {"state": VideoState.PENDING.value},
            {
                "state": VideoState.FAILED.value,
                "attempts": {"$lt": max_attempts},
                "next_attempt_at": {"$lte": now},
            },
            _expired(now, lease_seconds),
        ]
    }
    order = [("attempts", 1), ("updated_at", 1), ("_id", 1)]
    return [d["_id"] for d in videos.find(query, {"_id": 1}).sort(order)]


def known_ids(videos: Collection) -> set[str]:
    return {d["_id"] for d in videos.find({}, {"_id": 1})}


def claim(
    videos: Collection,
    video_id: str,
    now: datetime,
    lease_seconds: int,
    max_attempts: int | None = None,
    *,
    holder: str | None = None,
) -> dict | None:
    """Move a selectable video to `downloading` under a lease and count the attempt.

    The lease is `{holder, token, since, until, heartbeat_at}`: `holder` names the worker
    (`worker_id`), `token` this one claim; it is live until `until` (now + lease_seconds)
    and the holder renews it (`renew`) while it works. A video whose lease has expired is
    taken over: the returned document then carries the dead holder's lease under
    `taken_over`.

    Returns the document, or None when the video is stored, unavailable, exhausted (a
    failed video with `max_attempts` attempts, also on a direct rerun) or under another
    worker's live lease: then this worker must leave it alone (see `lease_of`).
    """
    from pymongo import ReturnDocument

    failed: dict[str, Any] = {"state": VideoState.FAILED.value}
    if max_attempts is not None:
        failed["attempts"] = {"$lt": max_attempts}
    lease = {
        "holder": holder or worker_id(),
        "token": uuid.uuid4().hex,
        "since": now,
        "until": now + timedelta(seconds=lease_seconds),
        "heartbeat_at": now,
    }
    before = videos.find_one_and_update(
        {
            "_id": video_id,
            "$or": [{"state": VideoState.PENDING.value}, failed, _expired(now, lease_seconds)],
        },
        {
            "$set": {"state": VideoState.DOWNLOADING.value, "updated_at": now, "lease": lease},
            "$inc": {"attempts": 1},
        },
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    doc = {**before, "state": VideoState.DOWNLOADING.value, "updated_at": now, "lease": lease}
    doc["attempts"] = (before.get("attempts") or 0) + 1
    if before.get("state") == VideoState.DOWNLOADING.value:
        doc["taken_over"] = before.get("lease") or {"holder": None, "until": None}
    return doc


def lease_of(videos: Collection, video_id: str) -> dict | None:
    """The live or expired lease a downloading video is under (None: not downloading)."""
    doc = videos.find_one({"_id": video_id, "state": VideoState.DOWNLOADING.value}, {"lease": 1})
    if doc is None:
        return None
    return doc.get("lease") or {"holder": None, "until": None}


def renew(
    videos: Collection, video_id: str, token: str, lease_seconds: int, now: datetime | None = None
) -> bool:
    """The holder's heartbeat: push the lease's end `lease_seconds` past now. False when
    the lease is no longer this claim's (it expired and another worker took it over)."""
    now = now or now_utc()
    done = videos.update_one(
        {"_id": video_id, "state": VideoState.DOWNLOADING.value, "lease.token": token},
        {
            "$set": {
                "lease.until": now + timedelta(seconds=lease_seconds),
                "lease.heartbeat_at": now,
            }
        },
    )
    return done.matched_count == 1


class LeaseLost(Exception):
    """A claim's lease expired and another worker took the video over: this worker's
    result is not written."""

    def __init__(self, video_id: str, holder: str | None):
        self.video_id, self.holder = video_id, holder
        super().__init__(
            f"[{video_id}] lease lost: the video was taken over by "
            f"{holder or 'another worker'} after this worker's lease expired; its result "
            "is not recorded (raise acquire.lease_seconds if the store was slow to answer)"
        )


def _end(videos: Collection, video_id: str, fields: dict[str, Any], token: str | None) -> None:
    """Write a download's end state and drop its lease; with `token`, only while that
    claim still holds the lease, else LeaseLost (a worker that lost its lease never
    overwrites the new holder's work)."""
    query: dict[str, Any] = {"_id": video_id}
    if token is not None:
        query.update({"state": VideoState.DOWNLOADING.value, "lease.token": token})
    done = videos.update_one(query, {"$set": fields, "$unset": {"lease": ""}})
    if token is not None and done.matched_count != 1:
        current = videos.find_one({"_id": video_id}, {"lease.holder": 1}) or {}
        raise LeaseLost(video_id, (current.get("lease") or {}).get("holder"))


def mark_stored(
    videos: Collection,
    video_id: str,
    clip: ClipFacts,
    now: datetime | None = None,
    *,
    token: str | None = None,
) -> None:
    now = now or now_utc()
    fields = {
        "state": VideoState.STORED.value,
        "clip": clip.model_dump(),
        "last_error": None,
        "next_attempt_at": None,
        "stored_at": now,
        "updated_at": now,
    }
    _end(videos, video_id, fields, token)


def mark_unavailable(
    videos: Collection,
    video_id: str,
    error: str,
    now: datetime | None = None,
    *,
    token: str | None = None,
) -> None:
    now = now or now_utc()
    fields = {
        "state": VideoState.UNAVAILABLE.value,
        "last_error": error,
        "next_attempt_at": None,
        "updated_at": now,
    }
    _end(videos, video_id, fields, token)


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
    token: str | None = None,
) -> datetime | None:
    """Record a transient failure; returns when it may be tried again (None: exhausted)."""
    now = now or now_utc()
    due = (
        now + timedelta(seconds=backoff_seconds(attempts, base, cap))
        if attempts < max_attempts
        else None
    )
    fields = {
        "state": VideoState.FAILED.value,
        "last_error": error,
        "next_attempt_at": due,
        "updated_at": now,
    }
    _end(videos, video_id, fields, token)
    return due


def summary(videos: Collection) -> dict[str, Any]:
    """Counts by state, for logs and the demo."""
    counts = {s.value: 0 for s in VideoState}
    for row in videos.aggregate([{"$group": {"_id": "$state", "n": {"$sum": 1}}}]):
        counts[row["_id"]] = row["n"]
    counts["total"] = sum(counts[s.value] for s in VideoState)
    return counts
