"""Download the first seconds of a video with yt-dlp's Python API."""

from __future__ import annotations

import logging
import re
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
) -> Path:
    """Fetch about the first `seconds` of the video into `workdir`; return the file.

    Raises SourceUnavailable (final) or TransientVideoError (retry later).
    """
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
