"""Plan a night's acquisition and run one batch of it.

`plan` runs in the scheduler's worker (cheap: CSV + one ledger query); `acquire_batch`
is the heavy step that runs as a pod or subprocess, one per batch of videos.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
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
from actionlens.lifetime import scratch, sweep_scratch
from actionlens.media import MediaError, decoded_duration, ffmpeg_binary, normalise, probe
from actionlens.records import ClipFacts, VideoState
from actionlens.runtime import Outcome, Result, StageReport, VideoStage
from actionlens.settings import Settings
from actionlens.store.mongo import VIDEOS, connect
from actionlens.store.storage import Bucket, clip_key, open_bucket, sha256_file

log = logging.getLogger(__name__)

# How far a stored clip's decoded duration may fall short of what it should hold (s).
DURATION_TOLERANCE = 1.0


@dataclass
class Plan:
    """Tonight's selection, already registered in the ledger."""

    batches: list[list[str]]
    selected: int
    retries: int
    registered: int
    transcripts: int
    skipped: Counter = field(default_factory=Counter)
    # The first rejected manifest rows: {"file", "line", "reason"}.
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "selected": self.selected,
            "retries": self.retries,
            "registered": self.registered,
            "transcripts": self.transcripts,
            "skipped": dict(self.skipped),
            "rejected": self.rejected,
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
    sweep_scratch()  # what workers that died on this machine left in its temp folder
    with scratch("plan") as tmp:
        work = Path(tmp)
        manifest = read_manifest(
            fetch_input(cfg.manifest, settings, work), fetch_input(cfg.task_ids, settings, work)
        )
        skipped = Counter(manifest.skipped)
        rejected = [
            {"file": cfg.manifest, "line": line, "reason": reason}
            for line, reason in manifest.rejected[:20]
        ]
        for row in rejected:
            log.warning(
                "manifest %s, line %d skipped: %s (fix the row; the rest of the file is used)",
                row["file"],
                row["line"],
                row["reason"],
            )
        manifest = apply_filters(manifest, cfg.categories, cfg.max_rank)
        retry = ledger.retry_ids(videos, now, cfg.max_attempts, cfg.lease_seconds)
        chosen = select_ids(
            manifest, ledger.known_ids(videos), retry, cfg.budget if budget is None else budget
        )
        registered = ledger.register(videos, manifest.source_rows(chosen), now)
        attached = 0
        if cfg.transcripts and chosen:
            dropped: dict[str, dict[str, int]] = {}
            transcripts, bad = read_transcripts(
                fetch_input(cfg.transcripts, settings, work), chosen, dropped
            )
            skipped.update(bad)
            attached = ledger.attach_transcripts(
                videos,
                transcripts,
                Path(cfg.transcripts).name,
                dropped=dropped,
                bucket=open_bucket(settings),
                inline_max_bytes=cfg.transcript_inline_max_bytes,
            )
    result = Plan(
        batches=batches(chosen, cfg.batch_size),
        selected=len(chosen),
        retries=len(set(retry) & set(chosen)),
        registered=registered,
        transcripts=attached,
        skipped=skipped,
        rejected=rejected,
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


class Acquirer(VideoStage):
    """Downloads, normalises, probes and stores videos; records every outcome.

    The ledger's own state machine is this stage's record: `claim` takes a video under a
    lease (state `downloading`, one more attempt), the runner's heartbeat renews it every
    third of `acquire.lease_seconds`, and `release` ends it in stored, unavailable or
    failed with a backoff — only while this worker still holds the lease. Two workers
    never fetch the same video, and a dead worker's videos come back when its lease runs
    out: the next run (on any machine) takes them over.
    """

    name = "acquire"
    ready_key = "stored"

    def __init__(self, settings: Settings, *, db=None, bucket: Bucket | None = None):
        self.settings = settings
        self.cfg = settings.acquire
        self.videos = (db if db is not None else connect(settings))[VIDEOS]
        self.bucket = bucket or open_bucket(settings)
        self.ffmpeg = ffmpeg_binary(settings.ffmpeg)
        self.worker = ledger.worker_id()
        self.heartbeat_seconds = self.cfg.lease_seconds / 3
        self._claims: dict[str, dict] = {}

    @property
    def ledger_key(self) -> None:
        return None  # the ledger document's own state is the record (see release)

    def run(self, video_ids: list[str]) -> StageReport:
        return self.run_batch(video_ids)

    def claim(self, video_id: str) -> Result | None:
        doc = ledger.claim(
            self.videos,
            video_id,
            ledger.now_utc(),
            self.cfg.lease_seconds,
            self.cfg.max_attempts,
            holder=self.worker,
        )
        if doc is not None:
            self._claims[video_id] = doc
            if "taken_over" in doc:
                self._take_over(video_id, doc)
            return None
        current = self.videos.find_one(
            {"_id": video_id}, {"state": 1, "clip": 1, "attempts": 1, "last_error": 1, "lease": 1}
        )
        if current is None:
            return Result(
                Outcome.FAILED, f"[{video_id}] not in the ledger: plan the run first", record=False
            )
        if (
            current["state"] == VideoState.FAILED.value
            and (current.get("attempts") or 0) >= self.cfg.max_attempts
        ):
            # A direct rerun honours max_attempts as the nightly plan does.
            return Result(
                Outcome.FAILED,
                f"[{video_id}] not retried: {current.get('attempts')} attempts of "
                f"acquire.max_attempts={self.cfg.max_attempts} used (last error: "
                f"{current.get('last_error')}); raise acquire.max_attempts or reset the "
                "video's attempts in the ledger to try again",
                {"state": VideoState.FAILED.value},
                record=False,
            )
        state = VideoState(current["state"])
        facts = {"state": state.value, "clip": current.get("clip")}
        if state == VideoState.DOWNLOADING:
            return self._held(video_id, current.get("lease") or {}, facts)
        # Stored already, final or waiting out its backoff.
        outcome = Outcome.UP_TO_DATE if state == VideoState.STORED else Outcome.SKIPPED
        return Result(outcome, facts=facts, record=False)

    def _held(self, video_id: str, lease: dict, facts: dict) -> Result:
        """Another worker's live lease: skipped, naming the holder and when it runs out."""
        holder = lease.get("holder") or "a worker that recorded no holder"
        until = lease.get("until")
        ends = until.replace(tzinfo=UTC).isoformat(timespec="seconds") if until else "unknown"
        return Result(
            Outcome.SKIPPED,
            f"[{video_id}] held by {holder} (lease renewed until {ends}): skipped; if that "
            f"worker died, its lease runs out within acquire.lease_seconds="
            f"{self.cfg.lease_seconds} and the next run takes the video over",
            {**facts, "holder": lease.get("holder"), "lease_until": ends},
            record=False,
        )

    def _take_over(self, video_id: str, doc: dict) -> None:
        """A dead worker's download: log it and remove what its upload left in the bucket."""
        before = doc["taken_over"]
        until = before.get("until")
        ends = until.replace(tzinfo=UTC).isoformat(timespec="seconds") if until else "unknown"
        parts = self.bucket.discard_partial(clip_key(video_id))
        log.warning(
            "[%s] taking over from %s, whose lease expired at %s (attempt %d)%s",
            video_id,
            before.get("holder") or "a worker that recorded no holder",
            ends,
            doc["attempts"],
            f"; removed {len(parts)} partial upload(s)" if parts else "",
        )

    def renew(self, video_id: str) -> bool:
        doc = self._claims.get(video_id)
        if doc is None:
            return False
        return ledger.renew(self.videos, video_id, doc["lease"]["token"], self.cfg.lease_seconds)

    def process(self, video_id: str) -> Result:
        clip = self._acquire(video_id)
        facts = {"state": VideoState.STORED.value, "clip": clip}
        return Result(Outcome.DONE, facts=self._with_takeover(video_id, facts))

    def failed(self, video_id: str, exc: BaseException) -> Result:
        if isinstance(exc, SourceUnavailable):
            facts = {"state": VideoState.UNAVAILABLE.value}
            return Result(Outcome.FAILED, str(exc), self._with_takeover(video_id, facts))
        # Every other failure is retryable; the batch goes on.
        error = video_failure(video_id, exc, "acquire")
        facts = {"state": VideoState.FAILED.value}
        return Result(Outcome.FAILED, error, self._with_takeover(video_id, facts))

    def _with_takeover(self, video_id: str, facts: dict) -> dict:
        before = (self._claims.get(video_id) or {}).get("taken_over")
        if before is not None:
            facts["taken_over_from"] = before.get("holder")
        return facts

    def release(self, video_id: str, result: Result) -> Result | None:
        doc = self._claims.pop(video_id, None)
        if doc is None:
            return None  # claiming itself failed: nothing was taken
        token = doc["lease"]["token"]
        state = result.facts.get("state")
        try:
            if state == VideoState.STORED:
                ledger.mark_stored(self.videos, video_id, result.facts["clip"], token=token)
            elif state == VideoState.UNAVAILABLE:
                ledger.mark_unavailable(self.videos, video_id, result.error, token=token)
            else:
                ledger.mark_failed(
                    self.videos,
                    video_id,
                    result.error,
                    attempts=doc["attempts"],
                    max_attempts=self.cfg.max_attempts,
                    base=self.cfg.backoff_base_seconds,
                    cap=self.cfg.backoff_max_seconds,
                    token=token,
                )
        except ledger.LeaseLost as lost:
            # Another worker holds the video now: its work stands, this result is dropped.
            log.warning("%s", lost)
            return Result(
                Outcome.SKIPPED,
                str(lost),
                {"state": VideoState.DOWNLOADING.value, "holder": lost.holder},
                record=False,
            )
        if state == VideoState.STORED:
            result.facts["clip"] = result.facts["clip"].model_dump()
        return None

    def _acquire(self, video_id: str) -> ClipFacts:
        key = clip_key(video_id)
        if self.bucket.exists(key):
            # Stored whole by an earlier attempt whose ledger write was lost: adopt it.
            return self._facts_from_object(video_id, key)
        with scratch(video_id) as tmp:
            work = Path(tmp)
            source = fetch.download(
                video_id,
                self.cfg.url_template,
                work,
                ffmpeg=self.ffmpeg,
                seconds=self.cfg.clip_seconds,
                socket_timeout=self.cfg.socket_timeout_seconds,
                deadline=self.cfg.download_deadline_seconds,
            )
            claimed = self._check_source(video_id, source).duration
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
                self._check_complete(video_id, clip, claimed)
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

    def _check_source(self, video_id: str, source: Path):
        """The source's probe; sorts a file that is not a usable video into final or
        transient."""
        try:
            return probe(source)
        except MediaError as exc:
            if exc.kind == "not_video":
                raise SourceUnavailable(video_id, f"source is not a video: {exc}") from exc
            # Empty or cut short: most likely an interrupted transfer, worth another try.
            raise TransientVideoError(video_id, f"download incomplete: {exc}") from exc

    def _check_complete(self, video_id: str, clip: Path, claimed: float) -> None:
        """The normalised clip holds all it should: its decoded duration is within
        `DURATION_TOLERANCE` of the shorter of the source's own container duration and the
        cut. A transfer cut short (no Content-Length, a file cut after its moov atom)
        leaves a container that claims more than it holds: retryable, never stored."""
        expected = min(claimed, self.cfg.clip_seconds) if claimed > 0 else None
        got = decoded_duration(clip)
        if expected is not None and got < expected - DURATION_TOLERANCE:
            raise TransientVideoError(
                video_id,
                f"download incomplete: the clip decodes to {got:.2f} s but the source says "
                f"{claimed:.2f} s (cut at {self.cfg.clip_seconds:g} s): the transfer was cut "
                "short; retried on the next run",
            )

    def _facts_from_object(self, video_id: str, key: str) -> ClipFacts:
        """Facts of a clip already in the bucket (probed from a downloaded copy)."""
        with scratch(video_id) as tmp:
            local = self.bucket.download(key, Path(tmp) / f"{video_id}.mp4")
            facts = probe(local)
            digest = sha256_file(local)
            size = local.stat().st_size
        return ClipFacts.from_probe(self.bucket.object_uri(key), digest, size, facts)


def acquire_batch(settings: Settings, video_ids: list[str]) -> StageReport:
    return Acquirer(settings).run(video_ids)
