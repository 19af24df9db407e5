"""One runtime for every per-video stage: a `VideoStage` says what it does to one video;
`run_stage` owns everything around it.

The runner validates ids, iterates over the batch, isolates failures (one video never
fails its batch; unexpected errors keep their traceback in the log and a one-line reason
on the ledger), writes the `stages.<name>` ledger record, logs progress and returns one
`StageReport` with one outcome vocabulary. `merge_reports` folds the reports of a run's
batches. A stage whose work gains from crossing videos (one GPU batch, one embedding
pass) is `batched`: the runner asks it per video what to do (`prepare`), hands it the
work once (`process_batch`) and still records one outcome per video. A stage whose
claim is a lease (`claim`, `renew`, `release`) gets a heartbeat: the runner renews each
claimed video's lease every `heartbeat_seconds` until it is released, so only a dead
worker's leases run out.

Staleness has one rule, `Freshness`: stored work is current when it was made by the
configured version, from the same inputs, and did not end in a status worth retrying.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from actionlens.errors import InputError, StoreUnavailable, video_failure
from actionlens.lifetime import sweep_scratch
from actionlens.progress import Progress
from actionlens.records import validate_video_id

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"  # work made now
    UP_TO_DATE = "up_to_date"  # the stored work is current: nothing to do
    SKIPPED = "skipped"  # not this stage's turn yet (its input is missing)
    FAILED = "failed"


READY = (Outcome.DONE, Outcome.UP_TO_DATE)  # what the next stage may take


@dataclass(frozen=True)
class Freshness:
    """When stored work (a node's caption, a ledger record, a lens vector) is current."""

    version_field: str = "version"
    retry: frozenset[str] = frozenset({"error"})  # statuses redone by the next run
    only: frozenset[str] | None = None  # when set, every other status is redone too
    status_field: str = "status"
    input_field: str = "input_hash"

    def is_stale(self, stored: Any, version: str, inputs: str | None = None) -> bool:
        if not isinstance(stored, dict) or stored.get(self.version_field) != version:
            return True
        status = stored.get(self.status_field)
        if status in self.retry or (self.only is not None and status not in self.only):
            return True
        return inputs is not None and stored.get(self.input_field) != inputs


@dataclass
class Result:
    """What a stage did to one video: an outcome, a one-line reason, stage facts."""

    outcome: Outcome
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    record: bool = True  # write the ledger record (False: leave the stored one alone)


class VideoResult(BaseModel):
    """One video's line in a report; the stage's facts (counts) sit beside the outcome."""

    model_config = ConfigDict(extra="allow")

    video_id: str
    outcome: Outcome
    error: str | None = None
    seconds: float = 0.0


class StageReport(BaseModel):
    """What one batch of one stage did; also the JSON a batch task returns. The stage's
    description of the batch (model id, baseline, version …) sits beside these fields."""

    model_config = ConfigDict(extra="allow")

    stage: str
    ready_key: str = Field("ready", exclude=True)  # the stage's name for the ready ids
    videos: list[VideoResult] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float = 0.0

    def ids(self, *outcomes: Outcome) -> list[str]:
        return [v.video_id for v in self.videos if v.outcome in outcomes]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.videos:
            out[v.outcome.value] = out.get(v.outcome.value, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, with the ids the next stage takes under the stage's ready key."""
        data = self.model_dump(mode="json")
        data.update(
            counts=self.counts(),
            failed=self.ids(Outcome.FAILED),
            **{self.ready_key: self.ids(*READY)},
        )
        return data


class VideoStage:
    """A per-video stage. Subclasses set `name` (the ledger's `stages.<name>`), `ready_key`
    (the report's list of videos ready for the next stage) and implement `process`, or set
    `batched` and implement `prepare` and `process_batch`."""

    name: ClassVar[str]
    ready_key: ClassVar[str] = "ready"
    batched: ClassVar[bool] = False
    freshness: ClassVar[Freshness] = Freshness()
    # Resources: the chosen backend decides for model stages (set in __init__).
    needs_gpu: bool = False
    needs_frames: bool = False
    # A stage that reads the stored clip sets `needs_clip` and has a `bucket`: the runner
    # checks the object against the ledger before the stage sees the video.
    needs_clip: bool = False
    bucket = None
    clip_ledger = None  # where the clip facts are read (None: the runner's ledger)
    version: str = ""
    ledger = None  # the ledger collection the runner records on (None: no records)

    @property
    def label(self) -> str:
        """The name in progress lines."""
        return self.name

    @property
    def ledger_key(self) -> str | None:
        """Where the ledger record goes under `stages.` (None: this stage keeps no record)."""
        return self.name

    def run_batch(self, video_ids: Sequence[object]) -> StageReport:
        """This stage over one batch, by the runner."""
        return Runner(self.ledger).run(self, video_ids)

    def one(self, video_id: str) -> VideoResult:
        """This stage on one video, by the runner (a batch of one)."""
        return self.run_batch([video_id]).videos[0]

    def setup(self) -> None:
        """Once per batch, before the first video (load the model)."""

    def teardown(self) -> None:
        """Once per batch, after the last video, also after a failure (free the model)."""

    def describe(self) -> dict[str, Any]:
        """The batch's facts for the report (model id, baseline, version …)."""
        return {}

    def claim(self, video_id: str) -> Result | None:
        """Before a video is processed: None to go on, or the result that ends it here
        (another worker holds it, it is not in the ledger …)."""
        return None

    def release(self, video_id: str, result: Result) -> Result | None:
        """After a video's result is recorded (let go of what `claim` took). May return
        the result that replaces it in the report (the claim was lost meanwhile …)."""
        return None

    # A claim that is a lease (it expires unless renewed, so a dead worker's videos come
    # back on their own) is renewed by the runner every `heartbeat_seconds` while its
    # video is worked on, until it is released. None: claims need no renewal.
    heartbeat_seconds: float | None = None

    def renew(self, video_id: str) -> bool:
        """The heartbeat: extend the lease `claim` took. False when it was lost (expired
        and taken over by another worker): the runner stops renewing it."""
        return True

    def is_stale(self, stored: Any, inputs: str | None = None) -> bool:
        """The one staleness rule, applied to this stage's version."""
        return self.freshness.is_stale(stored, self.version, inputs)

    def process(self, video_id: str) -> Result:
        raise NotImplementedError

    def prepare(self, video_id: str) -> Result | None:
        """Batched stages: a video's result when it needs no work, else None."""
        raise NotImplementedError

    def process_batch(self, video_ids: list[str]) -> dict[str, Result]:
        """Batched stages: the work for every prepared video at once."""
        raise NotImplementedError

    def failed(self, video_id: str, exc: BaseException) -> Result:
        """The result of an exception escaping the stage for one video."""
        return Result(Outcome.FAILED, video_failure(video_id, exc, self.name))

    def record(self, video_id: str, result: Result) -> dict[str, Any]:
        """The stage's fields of the ledger record, beside state, version, error and time."""
        return dict(result.facts)


def _store_outage(exc: BaseException) -> bool:
    """MongoDB stopped answering: not this video's fault, and every next one would wait
    out the same timeout."""
    if not type(exc).__module__.startswith("pymongo"):
        return False
    from pymongo.errors import ConnectionFailure

    return isinstance(exc, ConnectionFailure)


def _unique_ids(video_ids: Iterable[object]) -> list[object]:
    return list(dict.fromkeys(video_ids))


class Heartbeat:
    """Renews the leases a stage holds while its videos are worked on: one thread per
    batch, every `stage.heartbeat_seconds`, for the videos between claim and release."""

    def __init__(self, stage: VideoStage):
        self.stage = stage
        self.interval = stage.heartbeat_seconds
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, vid: str) -> None:
        if not self.interval:
            return
        with self._lock:
            self.held.add(vid)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._beat, name=f"{self.stage.name}-heartbeat", daemon=True
            )
            self._thread.start()

    def drop(self, vid: str) -> None:
        with self._lock:
            self.held.discard(vid)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            # Under the lock: a video is never renewed after `drop` (its release) returned.
            with self._lock:
                for vid in sorted(self.held):
                    self._renew(vid)

    def _renew(self, vid: str) -> None:
        try:
            kept = self.stage.renew(vid)
        except Exception as exc:  # noqa: BLE001 - retried next beat; the lease may run out
            log.warning("%s: [%s] lease not renewed: %s", self.stage.name, vid, exc)
            return
        if not kept:
            log.warning(
                "%s: [%s] lease lost to another worker: its result will not be recorded",
                self.stage.name,
                vid,
            )
            self.held.discard(vid)


class Runner:
    """Runs one stage over batches of videos, writing `stages.<name>` on the ledger."""

    def __init__(self, videos=None):
        self.videos = videos  # the ledger collection (None: no records, e.g. dry tests)

    def run(self, stage: VideoStage, video_ids: Sequence[object]) -> StageReport:
        started = time.monotonic()
        report = StageReport(
            stage=stage.name, ready_key=stage.ready_key, started_at=datetime.now(UTC)
        )
        ids = _unique_ids(video_ids)
        progress = Progress(stage.label, len(ids))
        lines: dict[object, VideoResult] = {}

        def finish(vid: object, result: Result, seconds: float) -> None:
            # Recorded as soon as it is known: a batch that dies later keeps this video's work.
            heartbeat.drop(vid)
            result = self._finish(stage, vid, result)
            lines[vid] = VideoResult(
                video_id=str(vid)[:64],
                outcome=result.outcome,
                error=result.error,
                seconds=round(seconds, 3),
                **result.facts,
            )
            progress.advance(result.outcome.value, f"{lines[vid].video_id} {result.error or ''}")

        outage: str | None = None

        def lost(vid: object, why: str) -> None:
            # The ledger cannot take it: the report (printed) is where it is recorded.
            lines[vid] = VideoResult(video_id=str(vid)[:64], outcome=Outcome.FAILED, error=why)
            progress.advance(Outcome.FAILED.value, f"{lines[vid].video_id} {why}")

        heartbeat = Heartbeat(stage)
        # What workers on this machine that died (kill -9) left in their `scratch` folders:
        # gone when the next batch of any stage starts, not kept forever.
        sweep_scratch()
        stage.setup()
        try:
            todo: list[str] = []
            for vid in ids:
                if outage:
                    lost(vid, f"[{vid}] not attempted: {outage}")
                    continue
                t0 = time.monotonic()
                try:
                    result = self._start(stage, vid)
                    if result is None:
                        heartbeat.hold(vid)  # claimed: its lease is renewed until released
                    if result is None and stage.batched:
                        result = self._guard(stage, vid, stage.prepare)
                        if result is None:
                            todo.append(vid)
                            continue
                    if result is None:
                        result = self._guard(stage, vid, stage.process)
                    finish(vid, result, time.monotonic() - t0)
                except Exception as exc:
                    if not _store_outage(exc):
                        raise
                    outage = self._outage(stage, exc)
                    lost(vid, f"[{vid}] not recorded: {outage}")
            if todo and outage:
                for vid in todo:
                    lost(vid, f"[{vid}] not attempted: {outage}")
            elif todo:
                t0 = time.monotonic()
                try:
                    done = stage.process_batch(todo)
                except Exception as exc:  # noqa: BLE001 - the whole pass failed: each video says so
                    done = {vid: stage.failed(vid, exc) for vid in todo}
                share = (time.monotonic() - t0) / len(todo)
                for vid in todo:
                    if outage:
                        lost(vid, f"[{vid}] not recorded: {outage}")
                        continue
                    try:
                        finish(vid, done[vid], share)
                    except Exception as exc:
                        if not _store_outage(exc):
                            raise
                        outage = self._outage(stage, exc)
                        lost(vid, f"[{vid}] not recorded: {outage}")
        finally:
            heartbeat.stop()
            stage.teardown()
        report.videos = [lines[vid] for vid in ids]
        report.finished_at = datetime.now(UTC)
        report.seconds = round(time.monotonic() - started, 3)
        for key, value in stage.describe().items():
            setattr(report, key, value)
        if outage:
            # What was done is still the batch's result: StoreUnavailable carries it out.
            raise StoreUnavailable(outage, report.model_dump(mode="json"))
        return report

    def _outage(self, stage: VideoStage, exc: BaseException) -> str:
        from actionlens.store.mongo import unreachable

        # The server's name: from the ledger the runner records on, or the stage's own.
        videos = self.videos if self.videos is not None else getattr(stage, "videos", None)
        client = getattr(getattr(videos, "database", None), "client", None)
        message = unreachable(exc, client)
        log.error("%s: %s", stage.name, message)
        return message

    def _start(self, stage: VideoStage, vid: object) -> Result | None:
        try:
            validate_video_id(vid)
        except InputError as exc:
            # Never reaches a model, a path or the ledger.
            return Result(Outcome.FAILED, str(exc), record=False)
        result = self._guard(stage, vid, stage.claim)
        if result is None and stage.needs_clip:
            result = self._guard(stage, vid, lambda v: self._check_clip(stage, v))
        return result

    def _check_clip(self, stage: VideoStage, vid: str) -> Result | None:
        """The stored clip's object matches the ledger (size, then sha256), else the video
        goes back to acquisition and this stage fails it, retryable, with the reason."""
        from actionlens.store.integrity import check_clip, send_back

        videos = stage.clip_ledger if stage.clip_ledger is not None else self.videos
        if videos is None or stage.bucket is None:
            raise RuntimeError(f"stage {stage.name} needs the clip but has no ledger or bucket")
        found = check_clip(videos, stage.bucket, vid)
        if found is None:
            return None
        reason, exists = found
        message = send_back(videos, stage.bucket, vid, reason, stage=stage.name, exists=exists)
        return Result(Outcome.FAILED, message, facts={"retryable": True, "clip_rejected": True})

    @staticmethod
    def _guard(stage: VideoStage, vid: str, step) -> Result | None:
        try:
            return step(vid)
        except Exception as exc:  # noqa: BLE001 - one video never fails its batch
            if _store_outage(exc):
                raise  # the store, not the video: the batch stops asking it (see run)
            return stage.failed(vid, exc)

    def _finish(self, stage: VideoStage, vid: object, result: Result) -> Result:
        """Record and release one video; the result its report line shows."""
        if not isinstance(vid, str) or not result.record:
            return result
        if self.videos is not None and stage.ledger_key:
            self._record(stage, vid, result)
        return stage.release(vid, result) or result

    def _record(self, stage: VideoStage, vid: str, result: Result) -> None:
        """`stages.<key>` on the ledger: state, version, error, time, attempts (failures
        in a row) and the stage's own fields; the only writer of `stages.*`."""
        now = datetime.now(UTC)
        failed = result.outcome == Outcome.FAILED
        fields = {
            "state": "failed" if failed else "done",
            "version": stage.version,
            "error": result.error,
            "at": now,
            **stage.record(vid, result),
        }
        prefix = f"stages.{stage.ledger_key}"
        update: dict[str, Any] = {"$set": {f"{prefix}.{k}": v for k, v in fields.items()}}
        update["$set"]["updated_at"] = now
        if failed:
            update["$inc"] = {f"{prefix}.attempts": 1}
        else:
            update["$set"][f"{prefix}.attempts"] = 0
        self.videos.update_one({"_id": vid}, update)


def run_stage(stage: VideoStage, video_ids: Sequence[object], *, videos=None) -> StageReport:
    """Run `stage` over one batch, recording on the ledger collection `videos`."""
    return Runner(videos).run(stage, video_ids)


def merge_reports(
    reports: Sequence[dict | None],
    ready_key: str,
    *,
    sums: Sequence[str] = (),
    parts: str | None = None,
) -> dict[str, Any]:
    """Fold a run's batch reports (task results; None for a batch that died) into the
    ready ids under `ready_key`, the failed ids and counts: per outcome, `batches_lost`,
    and the per-video facts named in `sums` added up. A batch that ran several models
    holds one report per model under `parts`; a video failed by any of them is failed."""
    ready: set[str] = set()
    failed: set[str] = set()
    counts: dict[str, int] = {"batches_lost": 0, **{k: 0 for k in sums}}
    for raw in reports:
        if raw is None:
            counts["batches_lost"] += 1
            continue
        for report in raw.get(parts) or [] if parts else [raw]:
            for v in report.get("videos") or []:
                outcome = Outcome(v["outcome"])
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == Outcome.FAILED:
                    failed.add(v["video_id"])
                elif outcome in READY:
                    ready.add(v["video_id"])
                for k in sums:
                    counts[k] += int(v.get(k) or 0)
    counts = {str(k): n for k, n in counts.items()}
    return {ready_key: sorted(ready - failed), "failed": sorted(failed), "counts": counts}
