"""`make up` / `make down`: the whole platform locally, on one home shared with `make demo`.

`make up` stays in the foreground and starts, each in its own process group with a
pidfile under `<home>/run/` and a log under `<home>/logs/`: the embedded mongod, the
demo's synthetic video source (when the home has one), the Airflow api-server,
scheduler, dag-processor and triggerer (LocalExecutor, several tasks at once), and the
FiftyOne App on the URL the dashboard links use. Ctrl-C (or SIGTERM, SIGHUP) stops all
of them; `make down` stops whatever the pidfiles name (after a crash, or from another
shell).

The home's settings file (`<home>/actionlens.yaml`, written by `make demo`) is read by
every process through ACTIONLENS_CONFIG, so `make up` runs with the demo's source,
reference and pairs and shows the demo's runs, marts and FiftyOne samples.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from actionlens.airflow_env import airflow_environment
from actionlens.errors import ConfigurationError
from actionlens.settings import Settings, child_environment, config_file, get_settings
from actionlens.telemetry import TELEMETRY_OFF

SETTINGS_FILE = "actionlens.yaml"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Each as `airflow <name> <flags>`. The scheduler and triggerer would serve their logs on
# fixed ports (8793, 8794) of every interface; the api-server reads them from the files.
AIRFLOW_FLAGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
# Tasks at once under LocalExecutor: >1 so mapped batches overlap as in production, small
# because each heavy step is its own process on a 2-core machine.
PARALLELISM = 4
STOP_SECONDS = 30.0


# -- the home's settings file -------------------------------------------------------------


def settings_file(home: Path) -> Path:
    return home / SETTINGS_FILE


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def write_home_settings(home: Path, values: dict[str, Any], overwrite: bool = True) -> Path:
    """Merge `values` into the home's settings file and return it; with overwrite=False
    a value already in the file (a person's edit) wins."""
    path = settings_file(home)
    current = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    merged = _merge(current, values) if overwrite else _merge(values, current)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Settings shared by `make demo`, `make up` and every task they run (ACTIONLENS_CONFIG).\n"
        "# Edit freely; ACTIONLENS_* environment variables still win.\n"
        + yaml.safe_dump(merged, sort_keys=False)
    )
    return path


def home_settings() -> Settings:
    """The settings of this home: ACTIONLENS_CONFIG names the home's settings file unless
    the caller named another."""
    home = get_settings().home
    if settings_file(home).exists() and config_file() is None:
        os.environ["ACTIONLENS_CONFIG"] = str(settings_file(home))  # for children too
        get_settings.cache_clear()
    return get_settings()


# -- processes ----------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _family(leader: int) -> set[int]:
    """The leader, its process group and every descendant (some start sessions of their
    own, e.g. the task runner's subprocesses)."""
    parents: dict[int, int] = {}
    family = {leader}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (fields := _stat(int(entry.name))) is None:
            continue
        pid, ppid, pgrp = int(entry.name), int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pgrp == leader:
            family.add(pid)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    return family


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_families(leaders: list[int], wait_seconds: float = STOP_SECONDS) -> None:
    """SIGTERM the leaders' families all at once, SIGKILL what is left after `wait_seconds`."""
    family = set().union(*(_family(pid) for pid in leaders)) if leaders else set()
    _signal_all(family, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while family and time.monotonic() < deadline:
        for pid in family:  # reap those that are our children
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        family = {p for p in family.union(*(_family(pid) for pid in leaders)) if alive(p)}
        time.sleep(0.2)
    _signal_all(family, signal.SIGKILL)


def port_free(host: str, port: int) -> bool:
    """Nothing listens there. SO_REUSEADDR as servers set it: a port whose last connections
    are in TIME_WAIT (a stack just stopped) is free to them."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _answers_http(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _host_port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


@dataclass
class Component:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]


class Stopped(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived."""


class Stack:
    """The processes of `make up` for one home, found again through their pidfiles."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.home = settings.home
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.procs: dict[str, subprocess.Popen] = {}
        self.started = False  # set once this process owns the home's stack

    # pidfiles ---------------------------------------------------------------------------

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def running(self) -> dict[str, int]:
        """Components whose pidfile names a live process."""
        found = {}
        for path in sorted(self.run_dir.glob("*.json")):
            with contextlib.suppress(ValueError, OSError, KeyError):
                pid = json.loads(path.read_text())["pid"]
                if alive(pid):
                    found[path.stem] = pid
        return found

    def start(self, component: Component) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        component.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{component.name}.log", "a") as log:
            proc = subprocess.Popen(
                component.argv,
                cwd=component.cwd,
                env=component.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the terminal's Ctrl-C is ours to relay
            )
        self.procs[component.name] = proc
        self.pidfile(component.name).write_text(
            json.dumps({"pid": proc.pid, "argv": component.argv, "started": time.time()})
        )

    def stop(self, names: list[str]) -> list[str]:
        """Stop these components and everything they started, together; returns those
        that were running."""
        pids: dict[str, int] = {}
        for name in names:
            with contextlib.suppress(OSError, ValueError, KeyError):
                pids[name] = json.loads(self.pidfile(name).read_text())["pid"]
        was = [name for name, pid in pids.items() if alive(pid)]
        stop_families([pids[name] for name in was])
        for name in pids:
            if name in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.procs.pop(name).wait(timeout=5)
            self.pidfile(name).unlink(missing_ok=True)
        return was

    @property
    def stopping_marker(self) -> Path:
        """Present while `make down` stops the stack: `make up` then exits quietly."""
        return self.run_dir / "stopping"

    def down(self) -> list[str]:
        """Stop every component of this home, then mongod once nothing uses it."""
        from actionlens.store.embedded import EmbeddedMongo

        names = sorted(p.stem for p in self.run_dir.glob("*.json"))
        if names:
            self.stopping_marker.touch()
        try:
            stopped = self.stop(names)
            if not self.settings.mongo_uri and EmbeddedMongo(self.home / "mongo").stop():
                stopped.append("mongod")
        finally:
            self.stopping_marker.unlink(missing_ok=True)
        return stopped

    # make up ----------------------------------------------------------------------------

    def _source(self, env: dict[str, str]) -> str | None:
        """Serve the demo's synthetic clips where acquire.url_template points; None when
        this home has no demo source."""
        videos = self.home / "source" / "videos"
        template = self.settings.acquire.url_template
        if not videos.is_dir() or urlsplit(template).hostname not in ("127.0.0.1", "localhost"):
            return None
        host, port = _host_port(template, 80)
        if not port_free(host, port):  # taken since the demo ran: move and say so in settings
            from actionlens.store.embedded import free_port

            port = free_port()
            template = f"http://127.0.0.1:{port}/{{video_id}}.mp4"
            write_home_settings(self.home, {"acquire": {"url_template": template}})
        argv = [sys.executable, "-m", "actionlens.serve", str(videos), "--port", str(port)]
        self.start(Component("source", argv, videos, env))
        return f"http://127.0.0.1:{port}/"

    def _environment(self, mongo_uri: str, api: tuple[str, int]) -> dict[str, str]:
        host, port = api
        env = child_environment(
            TELEMETRY_OFF,
            airflow_environment(self.home / "airflow"),
            {
                "ACTIONLENS_HOME": str(self.home),
                "ACTIONLENS_MONGO_URI": mongo_uri,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
                "AIRFLOW__API__HOST": host,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": f"http://{host}:{port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
            },
        )
        if config_file() is None and settings_file(self.home).exists():
            env["ACTIONLENS_CONFIG"] = str(settings_file(self.home))
        # Airflow's components start `airflow …` and tasks `python -m actionlens …` from PATH.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def up(self, on_ready=print) -> int:
        from actionlens.fiftyone_app import FFPROBE_HINT, app_address, app_command
        from actionlens.fiftyone_app import app_environment as fiftyone_environment
        from actionlens.publish.app import PLUGINS_DIR
        from actionlens.store.mongo import mongo_uri

        if running := self.running():
            raise ConfigurationError(
                f"the stack of {self.home} already runs ({', '.join(running)}): "
                "use it, or stop it with `make down`"
            )
        api = _host_port(self.settings.dashboard.url, 8080)
        app = app_address(self.settings)
        for what, (host, port), setting in (
            ("Airflow UI", api, "dashboard.url"),
            ("FiftyOne App", app, "fiftyone.app_url"),
        ):
            if not port_free(host, port):
                raise ConfigurationError(
                    f"{host}:{port} for the {what} is taken (another `make up`?): stop that, "
                    f"or set {setting} in {settings_file(self.home)} to a free port"
                )
        self.started = True
        uri = mongo_uri(self.settings)
        env = self._environment(uri, api)
        source = self._source(env)
        airflow_home = self.home / "airflow"
        airflow_home.mkdir(parents=True, exist_ok=True)
        passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
        if not passwords.exists():  # a known local login instead of a generated one
            passwords.write_text(json.dumps({"admin": "admin"}))
        login = json.loads(passwords.read_text()).get("admin", "?")
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode:
            raise ConfigurationError(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
        preflight(env)
        for name in AIRFLOW_COMPONENTS:
            argv = [sys.executable, "-m", "airflow", name, *AIRFLOW_FLAGS.get(name, [])]
            self.start(Component(name, argv, airflow_home, env))
        try:
            # The repo's App plugins (the text → video search operator) load from here.
            app_env = fiftyone_environment(self.settings, uri, env) | {
                "FIFTYONE_PLUGINS_DIR": str(PLUGINS_DIR)
            }
        except ConfigurationError as exc:
            print(f"FiftyOne App not started: {exc}", flush=True)
        else:
            self.start(Component("fiftyone-app", app_command(self.settings), self.home, app_env))
        urls = {
            "Airflow UI": f"http://{api[0]}:{api[1]}/api/v2/monitor/health",
            "FiftyOne App": f"http://{app[0]}:{app[1]}/",
        }
        deadline = time.monotonic() + 180
        waiting = dict(urls)
        while waiting:
            self._check_alive()
            waiting = {k: u for k, u in waiting.items() if not _answers_http(u)}
            if waiting and time.monotonic() > deadline:
                raise ConfigurationError(
                    f"{', '.join(waiting)} did not answer in 180 s: see {self.log_dir}"
                )
            if waiting:
                time.sleep(0.5)
        lines = [
            f"home:          {self.home}"
            + (f"  (settings: {settings_file(self.home)})" if "ACTIONLENS_CONFIG" in env else ""),
            f"Airflow UI:    http://{api[0]}:{api[1]}  login: admin / {login}",
            f"Confidence:    {self.settings.dashboard.url}",
            f"FiftyOne App:  {self.settings.fiftyone.app_url}"
            + ("" if "fiftyone-app" in self.procs else f"  (not started: {FFPROBE_HINT})"),
            f"MongoDB:       {uri}",
        ]
        if source:
            lines.append(f"video source:  {source} (the demo's synthetic clips)")
        lines.append(f"logs:          {self.log_dir}/<component>.log")
        lines.append("ready: Ctrl-C stops everything (or `make down` from another shell)")
        on_ready("\n".join(lines))
        return 0

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                if self.stopping_marker.exists() or not self.pidfile(name).exists():
                    self.procs.clear()  # `make down` stops them; not ours to stop again
                    self.started = False
                    raise Stopped("make down")
                tail = (self.log_dir / f"{name}.log").read_text()[-2000:]
                raise ConfigurationError(f"{name} exited with code {proc.returncode}:\n{tail}")

    def serve_forever(self) -> None:
        while True:
            self._check_alive()
            time.sleep(1)


def preflight(env: dict[str, str]) -> None:
    """`python -m actionlens preflight --create-pool` (the warehouse pool, connections),
    where this version of the package has that command."""
    from actionlens import cli

    cli.build_parser()  # registers every command
    if "preflight" not in cli.COMMANDS:
        return
    done = subprocess.run(
        [sys.executable, "-m", "actionlens", "preflight", "--create-pool"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise ConfigurationError(f"preflight failed:\n{(done.stderr or done.stdout)[-3000:]}")


def _raise_stopped(signum, frame) -> None:
    raise Stopped(signal.Signals(signum).name)


def up() -> int:
    stack = Stack(home_settings())
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)
    code = 0
    try:
        stack.up(on_ready=lambda text: print(text, flush=True))
        stack.serve_forever()
    except Stopped as why:
        print(f"stopping ({why}) ..." if stack.started else "stopped by `make down`", flush=True)
    except ConfigurationError as exc:
        print(f"make up: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        if stack.started:
            stopped = stack.down()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}", flush=True)
    return code


def down() -> int:
    stack = Stack(home_settings())
    stopped = stack.down()
    print(f"stopped: {', '.join(stopped)}" if stopped else f"nothing of {stack.home} was running")
    return 0


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "up"
    raise SystemExit({"up": up, "down": down}[action]())
