"""Progress lines for long steps, readable in the Airflow task log and a terminal."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter

log = logging.getLogger("actionlens.progress")


class Progress:
    """Counts done / total with a rate and failures so far; logs every item (and at most
    every `every` seconds once a batch is large)."""

    def __init__(self, step: str, total: int, *, unit: str = "videos", every: float = 0.0):
        self.step, self.total, self.unit, self.every = step, total, unit, every
        self.done = 0
        self.outcomes: Counter = Counter()
        self.started = time.monotonic()
        self._last = -math.inf  # the first item always logs, whatever the clock's origin

    def advance(self, outcome: str, detail: str = "") -> None:
        self.done += 1
        self.outcomes[outcome] += 1
        now = time.monotonic()
        if self.done == self.total or now - self._last >= self.every:
            self._last = now
            log.info(self.line(detail))

    def line(self, detail: str = "") -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        text = (
            f"{self.step}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{self.done / elapsed:.2f} {self.unit}/s, {counts}"
        )
        return f"{text} | {detail}" if detail else text
