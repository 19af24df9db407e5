"""Progress lines: done / total, rate and outcomes so far, in the log."""

from __future__ import annotations

import logging

from actionlens.progress import Progress


def test_each_item_logs_done_total_rate_and_failures(caplog):
    caplog.set_level(logging.INFO, logger="actionlens.progress")
    progress = Progress("acquire", 3)
    progress.advance("stored", "aaaaaaaaaa1")
    progress.advance("failed", "aaaaaaaaaa2 timeout")
    progress.advance("stored")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("acquire: 1/3 videos (33%), ") and lines[0].endswith(
        "stored 1 | aaaaaaaaaa1"
    )
    assert "2/3 videos (67%)" in lines[1] and "failed 1, stored 1" in lines[1]
    assert "3/3 videos (100%)" in lines[2] and "videos/s" in lines[2]


def test_large_batches_log_at_most_every_interval_but_always_the_last(caplog):
    caplog.set_level(logging.INFO, logger="actionlens.progress")
    progress = Progress("segment", 1000, every=3600)
    for _ in range(1000):
        progress.advance("done")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "1000/1000" in lines[-1]
