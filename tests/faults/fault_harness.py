"""The fault-injection harness: run a real step (`python -m actionlens <step>`) with a kill
point armed, rerun it as a scheduler would, and compare what the stores then hold with a
clean run's, by code.

A snapshot is everything a step leaves behind: every MongoDB collection of the case's
database (documents by id, without times, attempt counters and lease bookkeeping; floats
rounded), every file in the bucket folder (hidden ones too: a `.part` is a stray) with its
size and sha256, the warehouse's raw tables (without load times), the entries left in the
step's TMPDIR, and any process still running that the step started. Two snapshots are
diffed into a list of lines naming what differs; an empty list is convergence.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KILLPOINT_DIR = Path(__file__).resolve().parent / "killpoint"

# Keys whose values differ between two correct runs: times (`at`, `*_at`), the count of
# attempts (a killed attempt is counted, honestly: the table reports it) and the lease a
# worker holds while it downloads (holder, token, until).
VOLATILE = {"at", "attempts", "lease"}
VOLATILE_SUFFIXES = ("_at",)
FLOAT_DIGITS = 6
# acquire.lease_seconds of every case: a killed download is taken over after it.
LEASE_SECONDS = 3


@dataclass(frozen=True)
class KillPoint:
    """Where a step dies: `target` is `module:Qual.name`; the `nth` matching call."""

    target: str
    nth: int = 1
    when: str = "before"  # before | after the call
    action: str = "kill"  # kill | partial (bulk_write: half, then kill) | pause
    match: str | None = None  # substring of the call's repr(args) to match
    self_name: str | None = None  # the `name` of the call's first argument (a Collection)

    def label(self) -> str:
        what = {"partial": "half of", "pause": "pause at"}.get(self.action, self.when)
        extra = f" [{self.self_name}]" if self.self_name else ""
        extra += f" ~{self.match!r}" if self.match else ""
        return f"{what} {self.target}{extra} #{self.nth}"


@dataclass
class StepRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    markers: list[dict]
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def result(self) -> dict:
        """The step's printed JSON result (its last stdout line)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else {}


@dataclass
class FaultRow:
    """One line of the fault table."""

    case: str
    step: str
    kill_point: str
    reached: str = "no"
    runs: int = 0
    converged: bool = False
    lost: list[str] = field(default_factory=list)
    notes: str = ""
    seconds: float = 0.0


class Case:
    """One case's stores and environment: its own database, bucket folder (at a path shared
    by every case, so stored URIs compare equal), warehouse file and TMPDIR."""

    def __init__(self, root: Path, settings, bucket: Path):
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.settings = settings.model_copy(
            update={
                "mongo_db": f"f_{uuid.uuid4().hex[:12]}",
                "bucket": str(bucket),
                "duckdb_path": str(root / "warehouse.duckdb"),
            }
        )
        self.marker = root / "marker.jsonl"
        self.release = root / "release"

    def db(self):
        from actionlens.store.mongo import connect

        return connect(self.settings)

    def env(self, point: KillPoint | None = None) -> dict[str, str]:
        from actionlens.settings import child_environment, environment_for

        extra = {
            **environment_for(self.settings),
            "TMPDIR": str(self.tmp),
            "PYTHONPATH": str(KILLPOINT_DIR),
        }
        env = child_environment(extra)
        if point is not None:
            spec = {**asdict(point), "marker": str(self.marker), "release": str(self.release)}
            env["FAULT_POINT"] = json.dumps(spec)
        return env

    def markers(self) -> list[dict]:
        if not self.marker.exists():
            return []
        return [json.loads(line) for line in self.marker.read_text().splitlines() if line]

    def start(self, argv: list[str], point: KillPoint | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "actionlens", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(point),
            cwd=self.root,
        )

    def run(self, argv: list[str], point: KillPoint | None = None, timeout=300) -> StepRun:
        return self.finish(self.start(argv, point), argv, timeout)

    def finish(self, proc: subprocess.Popen, argv: list[str], timeout=300) -> StepRun:
        t0 = time.monotonic()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # a hung step must not outlive its test
            proc.communicate()
            raise
        return StepRun(argv, proc.returncode, out, err, self.markers(), time.monotonic() - t0)

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.db(), self.bucket, self.root / "warehouse.duckdb", self.tmp)


# --------------------------------------------------------------------------- snapshots


def normalise(value: Any) -> Any:
    """A stored value as compared: volatile keys dropped, floats rounded, times masked."""
    if isinstance(value, dict):
        return {
            k: normalise(v)
            for k, v in sorted(value.items())
            if k not in VOLATILE and not k.endswith(VOLATILE_SUFFIXES)
        }
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if hasattr(value, "isoformat"):
        return "<time>"
    return value


def mongo_state(db) -> dict[str, dict[str, Any]]:
    out = {}
    for name in sorted(db.list_collection_names()):
        docs = {str(d["_id"]): normalise(d) for d in db[name].find()}
        if docs:
            out[name] = docs
    return out


def bucket_state(root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    if root.exists():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                out[path.relative_to(root).as_posix()] = {
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
    return out


def warehouse_state(path: Path) -> dict[str, list]:
    if not path.exists():
        return {}
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        out = {}
        for schema, table in tables:
            cur = con.execute(f'select * from "{schema}"."{table}"')
            cols = [d[0] for d in cur.description]
            keep = [i for i, c in enumerate(cols) if not c.endswith(VOLATILE_SUFFIXES)]
            rows = [
                json.dumps([normalise(row[i]) for i in keep], default=str) for row in cur.fetchall()
            ]
            out[f"{schema}.{table}"] = sorted(rows)
        return out
    finally:
        con.close()


def leftover_processes(marker: str) -> list[str]:
    """Live processes whose command line names `marker` (a case's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        line = " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p)
        if marker in line:
            found.append(f"{entry.name}: {line[:200]}")
    return found


def snapshot(db, bucket: Path, warehouse: Path, tmp: Path) -> dict[str, Any]:
    return {
        "mongo": mongo_state(db),
        "bucket": bucket_state(bucket),
        "warehouse": warehouse_state(warehouse),
        # Our temp folders and files (`actionlens-*`), not the caches libraries keep there.
        "tmp": sorted(p.name for p in tmp.iterdir() if p.name.startswith("actionlens")),
        "processes": leftover_processes(str(tmp)),
    }


_BAGS = ("/tmp", "/processes", "/warehouse")


def diff(clean: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` differs from `clean`, one line each (missing, stray, changed)."""
    if isinstance(clean, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(clean) | set(got), key=str):
            where = f"{path}/{key}"
            if key not in got:
                out.append(f"missing {where}")
            elif key not in clean:
                out.append(f"stray {where}: {_short(got[key])}")
            else:
                out.extend(diff(clean[key], got[key], where))
        return out
    if isinstance(clean, list) and isinstance(got, list) and path.startswith(_BAGS):
        # Compared as multisets: a row loaded twice is a stray as much as a foreign one.
        what = " row" if path.startswith("/warehouse") else ""
        gone, extra = Counter(clean) - Counter(got), Counter(got) - Counter(clean)
        return [f"missing{what} {path}: {str(r)[:160]}" for r in gone.elements()] + [
            f"stray{what} {path}: {str(r)[:160]}" for r in extra.elements()
        ]
    if clean != got:
        return [f"changed {path}: {_short(clean)} -> {_short(got)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


# --------------------------------------------------------------------------- checkpoints


@dataclass
class Checkpoint:
    """The stores as a clean run left them after one step: raw documents (to restore a
    case's starting point), the bucket folder's copy and the normalised snapshot."""

    docs: dict[str, list[dict]]
    indexes: dict[str, list[dict]]
    bucket_copy: Path
    state: dict[str, Any]


def take_checkpoint(case: Case, where: Path) -> Checkpoint:
    db = case.db()
    docs = {name: list(db[name].find()) for name in db.list_collection_names()}
    indexes = {}
    for name in docs:
        indexes[name] = [
            {"name": k, **v} for k, v in db[name].index_information().items() if k != "_id_"
        ]
    if where.exists():
        shutil.rmtree(where)
    if case.bucket.exists():
        shutil.copytree(case.bucket, where)
    else:
        where.mkdir(parents=True)
    return Checkpoint(docs, indexes, where, case.snapshot())


def restore(case: Case, checkpoint: Checkpoint) -> None:
    """Put the case's database and the shared bucket folder where the checkpoint was."""
    db = case.db()
    for name, docs in checkpoint.docs.items():
        for index in checkpoint.indexes.get(name, []):
            options = {k: v for k, v in index.items() if k in ("unique", "partialFilterExpression")}
            db[name].create_index(index["key"], name=index["name"], **options)
        if docs:
            db[name].insert_many([dict(d) for d in docs])
    if case.bucket.exists():
        shutil.rmtree(case.bucket)
    shutil.copytree(checkpoint.bucket_copy, case.bucket)


# --------------------------------------------------------------------------- the chain


def annotate(db) -> None:
    """Stand-ins for the caption, aggregate and opinion stages (not under test here): four
    sources' annotations on every node of our trees, and a reference tree of `gpt` whose
    boundaries temporal agreement compares with ours."""
    from actionlens.store.mongo import NODES

    def note(text: str, actor: str | None = "a person") -> dict:
        return {
            "summary": {"brief": text, "detailed": f"{text}, shown step by step"},
            "action": {"brief": text, "detailed": f"{text} with both hands", "actor": actor},
        }

    for node in db[NODES].find({"frames": {"$exists": True}}):
        part = f"part {node['level']} at {node['start']:.1f} seconds"
        db[NODES].update_one(
            {"_id": node["_id"]},
            {
                "$set": {
                    "annotations.gpt": note(f"a person assembles {part}"),
                    "annotations.qwen3vl": note(f"someone assembles {part}"),
                    "annotations.molmo2": note(f"the cook stirs a pot near {part}", None),
                    "annotations.ours": note(f"a person builds {part}"),
                }
            },
        )
    for vid in db[NODES].distinct("video_id"):
        root = f"ref-{vid}"
        db[NODES].insert_many(
            [
                {
                    "_id": root,
                    "video_id": vid,
                    "segmenter": "action100m",
                    "parent_id": None,
                    "level": 0,
                    "start": 0.0,
                    "end": 4.0,
                    "annotations": {"gpt": note("a person assembles a shelf")},
                },
                *[
                    {
                        "_id": f"{root}-{i}",
                        "video_id": vid,
                        "segmenter": "action100m",
                        "parent_id": root,
                        "level": 1,
                        "start": float(2 * i),
                        "end": float(2 * i + 2),
                        "annotations": {"gpt": note(f"a person assembles half {i}")},
                    }
                    for i in range(2)
                ],
            ]
        )


def step_argv(step: str, ids: list[str]) -> list[str]:
    videos = "--videos=" + ",".join(ids)
    return {
        "acquire": ["acquire", videos],
        "segment": ["segment", videos],
        "score": ["score-agreement", videos],
        "load": ["load-warehouse", videos],
    }[step]


# --------------------------------------------------------------------------- the table


def table_markdown(rows: list[FaultRow]) -> str:
    head = "| case | step | kill point | reached | runs | converged? | anything lost | notes |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lost = "; ".join(r.lost[:4]) + (f" (+{len(r.lost) - 4})" if len(r.lost) > 4 else "")
        lines.append(
            f"| {r.case} | {r.step} | `{r.kill_point}` | {r.reached} | {r.runs} | "
            f"{'yes' if r.converged else 'NO'} | {lost or 'nothing'} | {r.notes} |"
        )
    return "\n".join(lines)
