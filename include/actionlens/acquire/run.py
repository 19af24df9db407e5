"""Plan a night's acquisition and run one batch of it.

`plan` runs in the scheduler's worker (cheap: CSV + one ledger query); `acquire_batch`
is the heavy step that runs as a pod or subprocess, one per batch of videos.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from actionlens.acquire import fetch, ledger
from actionlens.acquire.manifest import (
    apply_filters,
    batches,
    read_manifest,
    read_transcripts,
    select_ids,
)
from actionlens.errors import (
    AlreadyExists,
    InputError,
    SourceUnavailable,
    TransientVideoError,
    video_failure,
)
from actionlens.media import MediaError, ffmpeg_binary, normalise, probe
from actionlens.progress import Progress
from actionlens.records import AcquireOutcome, BatchReport, ClipFacts, VideoState, validate_video_id
from actionlens.settings import Settings
from actionlens.store.mongo import VIDEOS, connect
from actionlens.store.storage import Bucket, clip_key, open_bucket, sha256_file

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """Tonight's selection, already registered in the ledger."""

    batches: list[list[str]]
    selected: int
    retries: int
    registered: int
    transcripts: int
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "selected": self.selected,
            "retries": self.retries,
            "registered": self.registered,
            "transcripts": self.transcripts,
            "skipped": dict(self.skipped),
        }


def fetch_input(uri: str, settings: Settings, workdir: Path) -> Path:
    """A local path for an input named by a local path or a gs:// URI."""
    if uri.startswith("gs://"):
        bucket_uri, _, key = uri[len("gs://") :].partition("/")
        bucket = open_bucket(
            f"gs://{bucket_uri}", endpoint=settings.gcs_endpoint, project=settings.gcs_project
        )
        return bucket.download(key, workdir / Path(key).name)
    path = settings.path(uri)
    if not path.is_file():
        raise InputError(f"input {uri!r} does not exist (looked at {path})")
    return path


def plan(settings: Settings, *, budget: int | None = None, now=None) -> Plan:
    """Select tonight's ids, register them as pending and attach their transcripts."""
    cfg = settings.acquire
    now = now or ledger.now_utc()
    db = connect(settings)
    videos = db[VIDEOS]
    with tempfile.TemporaryDirectory(prefix="actionlens-plan-") as tmp:
        work = Path(tmp)
        manifest = read_manifest(
            fetch_input(cfg.manifest, settings, work), fetch_input(cfg.task_ids, settings, work)
        )
        skipped = Counter(manifest.skipped)
        manifest = apply_filters(manifest, cfg.categories, cfg.max_rank)
        retry = ledger.retry_ids(videos, now, cfg.max_attempts, cfg.lease_seconds)
        chosen = select_ids(
            manifest, ledger.known_ids(videos), retry, cfg.budget if budget is None else budget
        )
        registered = ledger.register(videos, manifest.source_rows(chosen), now)
        attached = 0
        if cfg.transcripts and chosen:
            transcripts, bad = read_transcripts(
                fetch_input(cfg.transcripts, settings, work), chosen
            )
            skipped.update(bad)
            attached = ledger.attach_transcripts(videos, transcripts, Path(cfg.transcripts).name)
    result = Plan(
        batches=batches(chosen, cfg.batch_size),
        selected=len(chosen),
        retries=len(set(retry) & set(chosen)),
        registered=registered,
        transcripts=attached,
        skipped=skipped,
    )
    log.info(
        "plan: %d selected (%d retries, %d new) in %d batches; skipped rows %s",
        result.selected,
        result.retries,
        registered,
        len(result.batches),
        dict(skipped) or "none",
    )
    return result


class Acquirer:
    """Downloads, normalises, probes and stores videos; records every outcome."""

    def __init__(self, settings: Settings, *, db=None, bucket: Bucket | None = None):
        self.settings = settings
        self.cfg = settings.acquire
        self.videos = (db if db is not None else connect(settings))[VIDEOS]
        self.bucket = bucket or open_bucket(settings)
        self.ffmpeg = ffmpeg_binary(settings.ffmpeg)

    def run(self, video_ids: list[str]) -> BatchReport:
        report = BatchReport(started_at=ledger.now_utc())
        progress = Progress("acquire", len(video_ids))
        for vid in video_ids:
            outcome = self.one(vid)
            report.outcomes.append(outcome)
            progress.advance(outcome.state.value, f"{vid} {outcome.error or ''}".strip())
        report.finished_at = ledger.now_utc()
        return report

    def one(self, video_id: str) -> AcquireOutcome:
        started = time.monotonic()
        try:
            validate_video_id(video_id)
        except InputError as exc:
            # Never reaches yt-dlp, a path or the ledger.
            return AcquireOutcome(
                video_id=str(video_id)[:64], state=VideoState.FAILED, error=str(exc)
            )
        now = ledger.now_utc()
        doc = ledger.claim(self.videos, video_id, now, self.cfg.lease_seconds)
        if doc is None:
            current = self.videos.find_one({"_id": video_id}, {"state": 1, "clip": 1})
            if current is None:
                return AcquireOutcome(
                    video_id=video_id,
                    state=VideoState.FAILED,
                    error=f"[{video_id}] not in the ledger: plan the run first",
                )
            clip = ClipFacts(**current["clip"]) if current.get("clip") else None
            return AcquireOutcome(video_id=video_id, state=VideoState(current["state"]), clip=clip)
        try:
            clip = self._acquire(video_id)
        except SourceUnavailable as exc:
            ledger.mark_unavailable(self.videos, video_id, str(exc))
            return AcquireOutcome(
                video_id=video_id,
                state=VideoState.UNAVAILABLE,
                error=str(exc),
                seconds=time.monotonic() - started,
            )
        except Exception as exc:  # noqa: BLE001 - every other failure is retryable, the batch goes on
            error = video_failure(video_id, exc, "acquire")
            ledger.mark_failed(
                self.videos,
                video_id,
                error,
                attempts=doc["attempts"],
                max_attempts=self.cfg.max_attempts,
                base=self.cfg.backoff_base_seconds,
                cap=self.cfg.backoff_max_seconds,
            )
            return AcquireOutcome(
                video_id=video_id,
                state=VideoState.FAILED,
                error=error,
                seconds=time.monotonic() - started,
            )
        ledger.mark_stored(self.videos, video_id, clip)
        return AcquireOutcome(
            video_id=video_id,
            state=VideoState.STORED,
            clip=clip,
            seconds=time.monotonic() - started,
        )

    def _acquire(self, video_id: str) -> ClipFacts:
        key = clip_key(video_id)
        if self.bucket.exists(key):
            # Stored whole by an earlier attempt whose ledger write was lost: adopt it.
            return self._facts_from_object(video_id, key)
        with tempfile.TemporaryDirectory(prefix=f"actionlens-{video_id}-") as tmp:
            work = Path(tmp)
            source = fetch.download(
                video_id,
                self.cfg.url_template,
                work,
                ffmpeg=self.ffmpeg,
                seconds=self.cfg.clip_seconds,
                socket_timeout=self.cfg.socket_timeout_seconds,
            )
            self._check_source(video_id, source)
            clip = work / f"{video_id}.mp4"
            try:
                normalise(
                    source,
                    clip,
                    ffmpeg=self.ffmpeg,
                    seconds=self.cfg.clip_seconds,
                    max_height=self.cfg.max_height,
                )
                facts = probe(clip)
            except MediaError as exc:
                raise TransientVideoError(video_id, str(exc)) from exc
            if facts.height > self.cfg.max_height or facts.width % 2 or facts.height % 2:
                raise TransientVideoError(
                    video_id, f"normalised clip is {facts.width}x{facts.height}"
                )
            digest = sha256_file(clip)
            meta = {"sha256": digest, "video_id": video_id}
            try:
                info = self.bucket.upload(clip, key, metadata=meta)
            except AlreadyExists:
                return self._facts_from_object(video_id, key)
            except Exception as exc:  # noqa: BLE001 - any upload fault leaves the video retryable
                raise TransientVideoError(
                    video_id, f"upload to {self.bucket.object_uri(key)} failed: {exc}"
                ) from exc
            return ClipFacts.from_probe(info.uri, digest, info.size, facts)

    def _check_source(self, video_id: str, source: Path) -> None:
        """Sort a downloaded file that is not a usable video into final or transient."""
        try:
            probe(source)
        except MediaError as exc:
            if exc.kind == "not_video":
                raise SourceUnavailable(video_id, f"source is not a video: {exc}") from exc
            # Empty or cut short: most likely an interrupted transfer, worth another try.
            raise TransientVideoError(video_id, f"download incomplete: {exc}") from exc

    def _facts_from_object(self, video_id: str, key: str) -> ClipFacts:
        """Facts of a clip already in the bucket (probed from a downloaded copy)."""
        with tempfile.TemporaryDirectory(prefix=f"actionlens-{video_id}-") as tmp:
            local = self.bucket.download(key, Path(tmp) / f"{video_id}.mp4")
            facts = probe(local)
            digest = sha256_file(local)
            size = local.stat().st_size
        return ClipFacts.from_probe(self.bucket.object_uri(key), digest, size, facts)


def acquire_batch(settings: Settings, video_ids: list[str]) -> BatchReport:
    return Acquirer(settings).run(video_ids)


def merge_reports(reports: list[dict | None]) -> dict:
    """Fold batch reports (XComs; None for a batch that died) into ids and counts."""
    stored: list[str] = []
    counts: Counter = Counter()
    for raw in reports:
        if raw is None:
            counts["batch_lost"] += 1
            continue
        report = BatchReport.model_validate(raw)
        for outcome in report.outcomes:
            counts[outcome.state.value] += 1
        stored.extend(report.ids(VideoState.STORED))
    return {"stored": sorted(set(stored)), "counts": dict(counts)}
