"""The bucket is not trusted blindly: before a stage uses a stored clip, the object's size
and sha256 must match what acquisition recorded on the ledger.

`check_clip` is cheap first (one metadata call for the size), then reads the object once
to hash it: a same-size corruption (a flipped block, a clip rewritten in place) is only
seen by the hash, and one read of a ≤ 90 s preview is small beside the decode every
stage that needs the clip does anyway. The runner applies it once per stage run per video
(`VideoStage.needs_clip`), never per stage: an object can change between two stages.

`send_back` returns a video whose object is missing or wrong to acquisition: the ledger
says `failed` (retryable now) with the reason in `last_error`, the rejected clip facts are
kept under `clip_rejected`, and a wrong object is deleted so the next acquisition fetches
the source again instead of adopting what is left.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from actionlens.records import VideoState
from actionlens.store.storage import bucket_key

log = logging.getLogger(__name__)


def check_clip(videos, bucket, video_id: str) -> tuple[str, bool] | None:
    """None when the video's stored clip matches the ledger (or it has none yet: the stage
    says so itself); else (the reason, whether the object exists)."""
    doc = videos.find_one({"_id": video_id}, {"state": 1, "clip": 1}) or {}
    clip = doc.get("clip") or {}
    if doc.get("state") != VideoState.STORED.value or not clip.get("uri"):
        return None
    uri = clip["uri"]
    size, digest = clip.get("size_bytes"), clip.get("sha256")
    key = bucket_key(uri, bucket)
    info = bucket.stat(key)
    if info is None:
        return f"[{video_id}] clip {uri} is missing from the bucket", False
    if size is None or not digest:
        return f"[{video_id}] clip {uri} has no size/sha256 on the ledger to check it by", True
    if info.size != size:
        return (
            f"[{video_id}] clip {uri} is {info.size} bytes in the bucket, "
            f"the ledger recorded {size}",
            True,
        )
    found = bucket.sha256(key)
    if found != digest:
        return (
            f"[{video_id}] clip {uri} has sha256 {found[:12]}… in the bucket, "
            f"the ledger recorded {digest[:12]}…",
            True,
        )
    return None


def send_back(videos, bucket, video_id: str, reason: str, *, stage: str, exists: bool) -> str:
    """Return the video to acquisition; the message says what happened and what follows."""
    now = datetime.now(UTC)
    doc = videos.find_one({"_id": video_id}, {"clip": 1}) or {}
    clip: dict[str, Any] = doc.get("clip") or {}
    message = (
        f"{reason}: sent back to acquisition by {stage}; the next acquire run fetches it again"
    )
    # Only the clip that was checked: a worker that re-acquired it meanwhile is left alone.
    moved = videos.update_one(
        {"_id": video_id, "state": VideoState.STORED.value, "clip.uri": clip.get("uri")},
        {
            "$set": {
                "state": VideoState.FAILED.value,
                "last_error": message,
                "next_attempt_at": now,
                "updated_at": now,
                "clip_rejected": {**clip, "reason": reason, "stage": stage, "at": now},
            },
            "$unset": {"clip": ""},
        },
    ).modified_count
    if moved and exists and clip.get("uri"):
        bucket.delete(bucket_key(clip["uri"], bucket))
    log.warning("%s", message)
    return message
