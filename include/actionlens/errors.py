"""Errors that say what was wrong with which input."""

from __future__ import annotations

import logging


class ActionlensError(Exception):
    """Base class for the platform's own errors."""


class ConfigurationError(ActionlensError):
    """A setting, binary or service the platform needs is missing or wrong."""


class InputError(ActionlensError):
    """An input file, row or argument is malformed; the message names it."""


class VideoError(ActionlensError):
    """Something went wrong for one video; carries its id."""

    def __init__(self, video_id: str, message: str):
        super().__init__(f"[{video_id}] {message}")
        self.video_id = video_id
        self.reason = message


def video_failure(video_id: str, exc: BaseException, step: str) -> str:
    """The stored error text for one video's failure. Expected failures (VideoError) read
    as they are; the platform's other errors (a missing input, a setting) are logged as a
    warning; anything else is logged with its traceback, since it is a bug or an outage
    rather than a bad video."""
    if isinstance(exc, VideoError):
        return str(exc)
    text = f"[{video_id}] {type(exc).__name__}: {exc}"
    logger = logging.getLogger(f"actionlens.{step}")
    if isinstance(exc, ActionlensError):
        logger.warning("%s: %s", step, text)
    else:
        logger.exception("%s: unexpected error for %s", step, video_id)
    return text


class SourceUnavailable(VideoError):
    """The source will not give this video (private, removed, 404, not a video): final."""


class TransientVideoError(VideoError):
    """A failure that may pass (network, truncated download, upload): retried with backoff."""


class StoreUnavailable(ActionlensError):
    """A store (MongoDB) stopped answering mid-step. Carries what the step did up to then
    (`result`), which the command still prints before it exits non-zero."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result


class AlreadyExists(ActionlensError):
    """A create-only write found the object already stored."""
