"""The videos ledger against a real mongod: state machine, backoff, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actionlens.acquire import ledger
from actionlens.records import ClipFacts, SourceRow, TranscriptSegment
from actionlens.store.mongo import VIDEOS

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


def row(vid: str, rank: int = 1) -> SourceRow:
    return SourceRow(
        video_id=vid,
        category_1="Food",
        category_2="Recipes",
        rank=rank,
        task_id="1",
        task_name="Make Tea",
    )


def clip(vid: str) -> ClipFacts:
    return ClipFacts(
        uri=f"clips/{vid}.mp4",
        sha256="0" * 64,
        size_bytes=10,
        duration=9.0,
        fps=30.0,
        width=320,
        height=240,
        video_codec="h264",
        pix_fmt="yuv420p",
    )


def test_backoff_doubles_up_to_the_cap():
    assert [ledger.backoff_seconds(n, 60, 300) for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 300, 300]


def test_register_is_idempotent_and_keeps_state(db):
    videos = db[VIDEOS]
    assert ledger.register(videos, [row("aaaaaaaaaa1"), row("aaaaaaaaaa2")], NOW) == 2
    ledger.mark_stored(videos, "aaaaaaaaaa1", clip("aaaaaaaaaa1"))
    assert ledger.register(videos, [row("aaaaaaaaaa1", rank=7), row("aaaaaaaaaa2")], NOW) == 0
    assert videos.count_documents({}) == 2
    doc = videos.find_one({"_id": "aaaaaaaaaa1"})
    assert doc["state"] == "stored" and doc["source"]["rank"] == 7


def test_claim_counts_attempts_and_refuses_final_states(db):
    videos = db[VIDEOS]
    ledger.register(videos, [row("aaaaaaaaaa1"), row("aaaaaaaaaa2")], NOW)
    doc = ledger.claim(videos, "aaaaaaaaaa1", NOW, lease_seconds=3600)
    assert doc["state"] == "downloading" and doc["attempts"] == 1
    # A live download is not claimed twice.
    assert ledger.claim(videos, "aaaaaaaaaa1", NOW, lease_seconds=3600) is None
    ledger.mark_unavailable(videos, "aaaaaaaaaa1", "HTTP Error 404")
    assert ledger.claim(videos, "aaaaaaaaaa1", NOW + timedelta(days=9), lease_seconds=3600) is None
    ledger.claim(videos, "aaaaaaaaaa2", NOW, lease_seconds=3600)
    ledger.mark_stored(videos, "aaaaaaaaaa2", clip("aaaaaaaaaa2"))
    assert ledger.claim(videos, "aaaaaaaaaa2", NOW, lease_seconds=3600) is None


def test_a_dead_workers_download_is_reclaimed_after_its_lease(db):
    videos = db[VIDEOS]
    ledger.register(videos, [row("aaaaaaaaaa1")], NOW)
    ledger.claim(videos, "aaaaaaaaaa1", NOW, lease_seconds=60)
    assert ledger.retry_ids(videos, NOW + timedelta(seconds=30), 5, 60) == []
    later = NOW + timedelta(seconds=120)
    assert ledger.retry_ids(videos, later, 5, 60) == ["aaaaaaaaaa1"]
    assert ledger.claim(videos, "aaaaaaaaaa1", later, lease_seconds=60)["attempts"] == 2


def test_failed_videos_come_back_after_backoff_until_exhausted(db):
    videos = db[VIDEOS]
    ledger.register(videos, [row("aaaaaaaaaa1")], NOW)
    ledger.claim(videos, "aaaaaaaaaa1", NOW, 3600)
    due = ledger.mark_failed(
        videos, "aaaaaaaaaa1", "timeout", attempts=1, max_attempts=2, base=600, cap=3600, now=NOW
    )
    assert due == NOW + timedelta(seconds=600)
    assert ledger.retry_ids(videos, NOW + timedelta(seconds=599), 2, 3600) == []
    assert ledger.retry_ids(videos, NOW + timedelta(seconds=600), 2, 3600) == ["aaaaaaaaaa1"]
    ledger.claim(videos, "aaaaaaaaaa1", NOW + timedelta(seconds=600), 3600)
    due = ledger.mark_failed(
        videos, "aaaaaaaaaa1", "timeout", attempts=2, max_attempts=2, base=600, cap=3600, now=NOW
    )
    assert due is None
    assert ledger.retry_ids(videos, NOW + timedelta(days=30), 2, 3600) == []
    doc = videos.find_one({"_id": "aaaaaaaaaa1"})
    assert doc["state"] == "failed" and doc["last_error"] == "timeout" and doc["attempts"] == 2


def test_transcripts_attach_to_known_ids_only(db):
    videos = db[VIDEOS]
    ledger.register(videos, [row("aaaaaaaaaa1")], NOW)
    segs = [TranscriptSegment(start=0, end=1.5, text="hi")]
    assert (
        ledger.attach_transcripts(
            videos, {"aaaaaaaaaa1": segs, "aaaaaaaaaa9": segs}, "raw_caption.json"
        )
        == 1
    )
    assert videos.count_documents({}) == 1
    assert videos.find_one({"_id": "aaaaaaaaaa1"})["transcript"]["segments"] == [
        {"start": 0.0, "end": 1.5, "text": "hi"}
    ]


def test_summary_counts_every_state(db):
    videos = db[VIDEOS]
    ledger.register(videos, [row("aaaaaaaaaa1"), row("aaaaaaaaaa2")], NOW)
    ledger.mark_unavailable(videos, "aaaaaaaaaa2", "removed")
    s = ledger.summary(videos)
    assert (s["pending"], s["unavailable"], s["stored"], s["total"]) == (1, 1, 0, 2)
