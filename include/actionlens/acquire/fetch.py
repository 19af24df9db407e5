"""Download the first seconds of a video with yt-dlp's Python API.

With a deadline, the download runs in a child process of its own session, killed (with
any ffmpeg it started) when the deadline passes: a source that trickles a few bytes a
second never stays idle long enough for the socket timeout, so only a wall clock ends it.
The child kills its session too when the worker dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from actionlens.errors import SourceUnavailable, TransientVideoError
from actionlens.records import validate_video_id

log = logging.getLogger(__name__)

# ≤480p where the site tells heights; `?` keeps formats of unknown height (plain files),
# whose height the normaliser caps instead.
FORMAT = "bv*[height<=?480]+ba/b[height<=?480]/bv*+ba/b"

# Messages after which asking again tomorrow will not help.
_FINAL = re.compile(
    r"HTTP Error (404|410)|Private video|Video unavailable|has been removed|"
    r"no longer available|account .* terminated|copyright|not available in your country|"
    r"members-only|Sign in to confirm your age|Unsupported URL|does not exist|"
    r"This video is unavailable|is not a valid URL",
    re.IGNORECASE,
)


class _Quiet:
    """Routes yt-dlp's messages to our logger instead of stdout."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


def source_url(template: str, video_id: str) -> str:
    return template.format(video_id=validate_video_id(video_id))


def download(
    video_id: str,
    url_template: str,
    workdir: Path,
    *,
    ffmpeg: str,
    seconds: float,
    socket_timeout: float = 30.0,
    deadline: float | None = None,
) -> Path:
    """Fetch about the first `seconds` of the video into `workdir`; return the file.

    Raises SourceUnavailable (final) or TransientVideoError (retry later, also when the
    download has not finished `deadline` seconds after it began).
    """
    if deadline is None:
        return _download(video_id, url_template, workdir, ffmpeg, seconds, socket_timeout)
    job = {
        "video_id": video_id,
        "url_template": url_template,
        "workdir": str(workdir),
        "ffmpeg": ffmpeg,
        "seconds": seconds,
        "socket_timeout": socket_timeout,
        "parent": os.getpid(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "actionlens.acquire.fetch", json.dumps(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group, so the deadline kills what it started (an ffmpeg) too;
        # and it kills that group when this worker dies (`group_dies_with_parent`).
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        received = sum(p.stat().st_size for p in Path(workdir).rglob("*") if p.is_file())
        raise TransientVideoError(
            video_id,
            f"download from {source_url(url_template, video_id)} did not finish within "
            f"acquire.download_deadline_seconds={deadline:g} ({received} bytes received): "
            "the source is too slow; it is retried later (raise the deadline for slow sources)",
        ) from None
    finally:
        _kill_group(proc)  # nothing it started outlives the download
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise TransientVideoError(
            video_id, f"download process exited with code {proc.returncode}: {err[-300:]}"
        ) from None
    if "path" in result:
        return Path(result["path"])
    kind = SourceUnavailable if result.get("final") else TransientVideoError
    raise kind(video_id, result["message"])


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _download(
    video_id: str,
    url_template: str,
    workdir: Path,
    ffmpeg: str,
    seconds: float,
    socket_timeout: float,
) -> Path:
    from yt_dlp import YoutubeDL
    from yt_dlp.utils import DownloadError, download_range_func

    url = source_url(url_template, video_id)
    options = {
        "format": FORMAT,
        "outtmpl": str(workdir / "source.%(ext)s"),
        "ffmpeg_location": ffmpeg,
        "socket_timeout": socket_timeout,
        "retries": 2,
        "fragment_retries": 2,
        "noplaylist": True,
        "overwrites": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Quiet(),
        "cachedir": False,
    }
    try:
        with YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
            if info.get("extractor_key") != "Generic":
                # Sites stream sections: fetch only the first seconds. A plain file (the
                # generic extractor) is fetched whole and cut by the normaliser.
                ydl.params["download_ranges"] = download_range_func(None, [(0, seconds)])
            info = ydl.process_ie_result(info, download=True)
    except DownloadError as exc:
        message = _clean(str(exc))
        if _FINAL.search(message):
            raise SourceUnavailable(video_id, f"source refused: {message}") from exc
        raise TransientVideoError(video_id, f"download failed: {message}") from exc
    files = [
        Path(d["filepath"])
        for d in (info or {}).get("requested_downloads", [])
        if d.get("filepath")
    ]
    files = [f for f in files if f.exists()]
    if not files:
        raise TransientVideoError(video_id, f"yt-dlp reported success but wrote no file for {url}")
    return files[0]


def _clean(message: str) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    return message.removeprefix("ERROR: ").strip()[:500]


def _child(job: dict) -> dict:
    """Run one download; the outcome as JSON-able data for the parent."""
    try:
        path = _download(
            job["video_id"],
            job["url_template"],
            Path(job["workdir"]),
            job["ffmpeg"],
            job["seconds"],
            job["socket_timeout"],
        )
    except SourceUnavailable as exc:
        return {"final": True, "message": exc.reason}
    except TransientVideoError as exc:
        return {"final": False, "message": exc.reason}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which records it
        return {"final": False, "message": f"download failed: {type(exc).__name__}: {exc}"}
    return {"path": str(path)}


if __name__ == "__main__":
    _job = json.loads(sys.argv[1])
    if "parent" in _job:
        from actionlens.lifetime import group_dies_with_parent

        group_dies_with_parent(_job["parent"])
    print(json.dumps(_child(_job)), flush=True)
