"""Typed records that flow between stages, validated where outside text comes in."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from actionlens.errors import InputError

VIDEO_ID_PATTERN = r"[A-Za-z0-9_-]{11}"
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)


def validate_video_id(value: object) -> str:
    """Return `value` if it is an 11-character YouTube id, else raise InputError.

    Nothing else may reach yt-dlp, a URL or a file path.
    """
    if not isinstance(value, str) or not _VIDEO_ID.fullmatch(value):
        raise InputError(f"video id {value!r} is not 11 characters of [A-Za-z0-9_-]")
    return value


def videos_argument(ids: list[str] | tuple[str, ...]) -> str:
    """`--videos=a,b` as one argument: a YouTube id may start with `-`, which argparse would
    take for an option after a separate `--videos`."""
    return "--videos=" + ",".join(ids)


def transcript_text(video: dict[str, Any]) -> str:
    """A video document's ASR transcript as one text, in time order."""
    segments = (video.get("transcript") or {}).get("segments") or []
    ordered = sorted(
        (s for s in segments if str(s.get("text", "")).strip()), key=lambda s: float(s["start"])
    )
    return " ".join(str(s["text"]).strip() for s in ordered)


class VideoState(StrEnum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    STORED = "stored"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


def new_video_fields(now: datetime) -> dict[str, Any]:
    """The ledger fields a video id starts with (`$setOnInsert`): pending, never tried.
    Whoever registers an id (the manifest, an Action100M import) writes these, so an id
    enters the ledger the same way from every source and a known id keeps its state."""
    return {
        "state": VideoState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }


class SourceRow(BaseModel):
    """One HowTo100M manifest row."""

    video_id: str
    category_1: str
    category_2: str
    rank: int
    task_id: str
    task_name: str | None = None


class ClipFacts(BaseModel):
    """What the normalised clip is, as probed after normalisation."""

    uri: str
    sha256: str
    size_bytes: int
    duration: float
    fps: float
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    audio_codec: str | None = None

    @classmethod
    def from_probe(cls, uri: str, sha256: str, size_bytes: int, facts: Any) -> ClipFacts:
        """From a media probe's facts (duration, fps, size, codecs) and the stored object."""
        return cls(
            uri=uri,
            sha256=sha256,
            size_bytes=size_bytes,
            duration=facts.duration,
            fps=facts.fps,
            width=facts.width,
            height=facts.height,
            video_codec=facts.video_codec,
            pix_fmt=facts.pix_fmt,
            audio_codec=facts.audio_codec,
        )


class TranscriptSegment(BaseModel):
    """One ASR entry: finite times, an end not before its start, a text (never None)."""

    start: float = Field(ge=0, allow_inf_nan=False)
    end: float = Field(ge=0, allow_inf_nan=False)
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> TranscriptSegment:
        if self.end < self.start:
            raise ValueError(
                f"transcript entry ends at {self.end} before it starts at {self.start}"
            )
        return self
