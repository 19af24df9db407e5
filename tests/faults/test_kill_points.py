"""kill -9 at named points of acquire, segment, score and load; mongod killed mid-step;
two workers on one batch. Each case ends with the stores equal to the clean run's
(states, node ids, bounds, score values, warehouse rows, bucket objects) and nothing
left behind (no stray object, no temp file, no process), diffed by `fault_harness.diff`.
Each kill point leaves a marker before the kill, so the test knows it was reached."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fault_harness import LEASE_SECONDS, Case, FaultRow, KillPoint, diff, restore, step_argv

pytestmark = pytest.mark.integration

MAX_RERUNS = 2


@dataclass(frozen=True)
class Fault:
    name: str
    step: str
    point: KillPoint
    start: str  # the clean run's checkpoint the case starts from
    settle: float = 0.0  # wait before a rerun (an acquire lease must expire first)
    batch_of_one: bool = False  # agreement.videos_per_batch = 1 (one load transaction per video)


ACQUIRE_WAIT = LEASE_SECONDS + 0.5
FAULTS = [
    Fault(
        "acquire_mid_download",
        "acquire",
        # The step dies as soon as its download process (yt-dlp) has started.
        KillPoint("subprocess:Popen.__init__", when="after", match="actionlens.acquire.fetch"),
        "registered",
        ACQUIRE_WAIT,
    ),
    Fault(
        "acquire_second_video_before_normalise",
        "acquire",
        KillPoint("actionlens.acquire.run:normalise", nth=2),
        "registered",
        ACQUIRE_WAIT,
    ),
    Fault(
        "acquire_mid_upload",
        "acquire",
        # The clip is copied into the bucket's `.part` file, not yet linked to its key.
        KillPoint("shutil:copyfile", when="after", match=".part"),
        "registered",
        ACQUIRE_WAIT,
    ),
    Fault(
        "acquire_after_upload_before_ledger",
        "acquire",
        KillPoint("actionlens.acquire.ledger:mark_stored"),
        "registered",
        ACQUIRE_WAIT,
    ),
    Fault(
        "segment_mid_decode",
        "segment",
        # The clip is downloaded to the step's temp folder and being decoded.
        KillPoint("actionlens.segment.run:segment_frames"),
        "acquire",
    ),
    Fault(
        "segment_mid_node_write",
        "segment",
        KillPoint("pymongo.collection:Collection.bulk_write", action="partial", self_name="nodes"),
        "acquire",
    ),
    Fault(
        "segment_tree_written_before_record",
        "segment",
        KillPoint("actionlens.runtime:Runner._record"),
        "acquire",
    ),
    Fault(
        "score_mid_row_write",
        "score",
        KillPoint("pymongo.collection:Collection.bulk_write", action="partial", self_name="scores"),
        "annotate",
    ),
    Fault(
        "score_node_rows_written_temporal_not",
        "score",
        KillPoint("actionlens.agreement.score:_replace", nth=2),
        "annotate",
    ),
    Fault(
        "load_mid_insert",
        "load",
        KillPoint("actionlens.warehouse.backends:DuckDBWarehouse.insert", nth=2),
        "score",
    ),
    Fault(
        "load_between_batches",
        "load",
        KillPoint("actionlens.warehouse.backends:Warehouse.replace", nth=2),
        "score",
        batch_of_one=True,
    ),
]
PREVIOUS = {"acquire": "registered", "segment": "acquire", "score": "annotate", "load": "score"}


def attempts(case: Case) -> int:
    from actionlens.store.mongo import VIDEOS

    return sum(d.get("attempts") or 0 for d in case.db()[VIDEOS].find({}, {"attempts": 1}))


def converge(case: Case, fault: Fault, ids, expect: dict, row: FaultRow) -> list[str]:
    """Rerun the step (after `settle`) until the stores equal `expect`; the last diff."""
    lost = diff(expect, case.snapshot())
    while lost and row.runs < 1 + MAX_RERUNS:
        time.sleep(fault.settle)
        again = case.run(step_argv(fault.step, ids))
        row.runs += 1
        assert again.returncode == 0, f"rerun {row.runs - 1}: {again.stderr[-3000:]}"
        lost = diff(expect, case.snapshot())
    return lost


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_killed_step_converges_to_the_clean_state(
    fault, new_case, clean_run, fault_world, fault_row
):
    t0 = time.monotonic()
    settings = None
    if fault.batch_of_one:
        base = fault_world["settings"]
        one = base.agreement.model_copy(update={"videos_per_batch": 1})
        settings = base.model_copy(update={"agreement": one})
    case = new_case(fault.start, settings)
    ids = clean_run["ids"]
    clean_attempts = attempts(clean_run["case"]) if fault.step == "acquire" else 0
    fault_row.step, fault_row.kill_point = fault.step, fault.point.label()

    first = case.run(step_argv(fault.step, ids), fault.point)
    fault_row.runs = 1
    assert first.markers, (
        f"kill point {fault.point.label()} never reached (exit {first.returncode}): "
        f"{first.stderr[-3000:]}"
    )
    mark = first.markers[0]
    fault_row.reached = f"yes (call {mark['call']})"
    assert first.killed, f"the step was not killed at its point: exit {first.returncode}"

    expect = clean_run["points"][fault.step].state
    broken = diff(expect, case.snapshot())
    fault_row.notes = f"{len(broken)} differences after the kill"
    assert broken, "the kill changed nothing: this case would pass without any rerun"
    lost = converge(case, fault, ids, expect, fault_row)
    fault_row.converged, fault_row.lost = not lost, lost
    if fault.step == "acquire":
        fault_row.notes += f"; attempts +{attempts(case) - clean_attempts} (the killed one counted)"
    fault_row.seconds = round(time.monotonic() - t0, 1)
    assert lost == []


# ------------------------------------------------------------------ mongod killed mid-step


# Where the step waits while mongod is killed: the second video's last write.
OUTAGES = {
    "segment": KillPoint("actionlens.runtime:Runner._record", nth=2, action="pause"),
    "acquire": KillPoint("actionlens.acquire.ledger:mark_stored", nth=2, action="pause"),
}


def kill_mongod(server) -> None:
    pid = server._read_state()["pid"]
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # our child: reap it
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


@pytest.mark.parametrize("step", list(OUTAGES), ids=lambda s: f"mongod_killed_mid_{s}")
def test_mongod_killed_mid_step_exits_3_and_a_rerun_converges(
    step, fault_world, clean_run, tmp_path, fault_row
):
    from actionlens.store.embedded import EmbeddedMongo

    t0 = time.monotonic()
    server = EmbeddedMongo(tmp_path / "mongod")
    uri = server.start()
    port = int(uri.rsplit(":", 1)[1].strip("/"))
    try:
        base = fault_world["settings"].model_copy(update={"mongo_uri": uri})
        case = Case(tmp_path / "case", base, Path(base.bucket))
        restore(case, clean_run["points"][PREVIOUS[step]])
        ids = clean_run["ids"]
        point = OUTAGES[step]
        fault_row.step, fault_row.kill_point = step, f"kill -9 mongod at {point.label()}"
        proc = case.start(step_argv(step, ids), point)
        deadline = time.monotonic() + 120
        while not case.markers() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert case.markers(), f"pause point never reached: {proc.communicate()[1][-3000:]}"
        fault_row.reached = f"yes (call {case.markers()[0]['call']})"
        kill_mongod(server)
        case.release.touch()
        first = case.finish(proc, step_argv(step, ids))
        fault_row.runs = 1
        assert first.returncode == 3, first.stderr[-3000:]
        assert f"MongoDB at 127.0.0.1:{port} did not answer" in first.stderr
        outcomes = {v["video_id"]: v["outcome"] for v in first.result()["videos"]}
        assert outcomes == {ids[0]: "done", ids[1]: "failed"}

        server.port = port
        assert server.start() == uri
        settle = ACQUIRE_WAIT if step == "acquire" else 0.0
        fault = Fault(f"mongod_{step}", step, point, PREVIOUS[step], settle)
        lost = converge(case, fault, ids, clean_run["points"][step].state, fault_row)
        fault_row.converged, fault_row.lost = not lost, lost
        fault_row.notes = "the step exits 3 naming the server, its result printed"
        fault_row.seconds = round(time.monotonic() - t0, 1)
        assert lost == []
    finally:
        server.stop()


# ------------------------------------------------------------------ two workers, one batch


@pytest.mark.parametrize(
    "step", ["acquire", "segment", "score", "load"], ids=lambda s: f"two_workers_{s}"
)
def test_two_workers_on_one_batch_leave_the_clean_state(
    step, new_case, clean_run, fault_world, fault_row
):
    t0 = time.monotonic()
    case = new_case(PREVIOUS[step])
    ids = clean_run["ids"]
    fault_row.step, fault_row.kill_point = step, "two concurrent workers, same ids"
    fault_row.reached = "n/a"
    hits = dict(fault_world["server"].hits)
    procs = [case.start(step_argv(step, ids)) for _ in range(2)]
    runs = [case.finish(p, step_argv(step, ids)) for p in procs]
    fault_row.runs = 2
    locked = [r for r in runs if r.returncode == 2 and "is held by process" in r.stderr]
    if step == "load" and locked:
        # DuckDB has one writer per file: the second loader says who holds it, and exits.
        fault_row.notes = "the second loader: 'held by process N' (exit 2); rerun"
        again = case.run(step_argv(step, ids))
        fault_row.runs += 1
        runs = [r for r in runs if r not in locked] + [again]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    lost = diff(clean_run["points"][step].state, case.snapshot())
    if step == "acquire":
        fetched = {k: n - hits.get(k, 0) for k, n in fault_world["server"].hits.items()}
        fetched = {k: n for k, n in fetched.items() if n}
        fault_row.notes = f"source requests as a clean run: {fetched == clean_run['acquire_hits']}"
        assert fetched == clean_run["acquire_hits"]  # each video fetched by one worker
        outcomes = sorted(v["outcome"] for run in runs for v in run.result()["videos"])
        assert outcomes.count("done") == len(ids), outcomes
    fault_row.converged, fault_row.lost = not lost, lost
    fault_row.seconds = round(time.monotonic() - t0, 1)
    assert lost == []
