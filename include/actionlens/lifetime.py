"""Nothing a worker starts outlives it: child processes and scratch folders.

A worker killed with SIGKILL runs no cleanup of its own, so both are arranged up front:

- `die_with_parent` (a `preexec_fn`) makes the kernel SIGKILL a child the moment the
  worker dies (Linux `PR_SET_PDEATHSIG`); `group_dies_with_parent` does the same for a
  child that leads a process group of its own, taking its whole group (an ffmpeg that
  yt-dlp started) with it.
- `scratch(label)` makes a temp folder whose name carries the worker's pid
  (`actionlens-w<pid>-<label>-…`); `sweep_scratch()`, run when a batch starts, removes the
  folders of workers that are gone. Scratch folders are local to their machine: a pod's
  die with the pod.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_SCRATCH = re.compile(r"^actionlens-w(\d+)-")


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc.prctl


_PRCTL = _prctl()  # resolved before any fork: the child only calls it


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only)."""
    if _PRCTL is None:
        return False
    return _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def die_with_parent() -> None:
    """`preexec_fn` for a child that must not outlive the worker: SIGKILL on its death."""
    set_parent_death_signal(signal.SIGKILL)


def group_dies_with_parent(parent: int) -> None:
    """Called first thing in a child that leads its own process group (started with
    `start_new_session`): when `parent` dies, the child kills its whole group, so what it
    started (an ffmpeg) goes too. Exits at once if `parent` is already gone."""

    def kill_group(signum, frame):  # noqa: ARG001 - signal handler signature
        os.killpg(os.getpgid(0), signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_group)
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # died before the request was made
        kill_group(signal.SIGTERM, None)


def scratch(label: str) -> tempfile.TemporaryDirectory:
    """A temp folder for one piece of work, named with this worker's pid."""
    return tempfile.TemporaryDirectory(prefix=f"actionlens-w{os.getpid()}-{label}-")


def _started_after(pid: int, when: float) -> bool:
    """Whether process `pid` started after `when` (epoch seconds): then it reuses the pid of
    the folder's dead owner. False when it cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") > when + 1


def owner_alive(pid: int, made_at: float) -> bool:
    """Whether the process that made a folder at `made_at` is still running."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's live process
    return not _started_after(pid, made_at)


def sweep_scratch(root: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders (`scratch`) of workers that are no longer running;
    returns what was removed."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for path in entries:
        found = _SCRATCH.match(path.name)
        if not found or not path.is_dir():
            continue
        try:
            made_at = path.stat().st_mtime
        except OSError:
            continue
        if owner_alive(int(found.group(1)), made_at):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
            log.info("removed %s: the worker that made it (pid %s) is gone", path, found[1])
    return removed
