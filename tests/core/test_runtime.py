"""The stage runtime: one runner owns the loop, the ledger record, failure isolation and
the report; every per-video stage is a `VideoStage` and none keeps a loop of its own."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

import actionlens
from actionlens.errors import InputError
from actionlens.runtime import (
    Freshness,
    Outcome,
    Result,
    VideoStage,
    merge_reports,
    run_stage,
)

PACKAGE = Path(actionlens.__file__).parent
A, B, C = "aaaaaaaaaa1", "bbbbbbbbbb2", "cccccccccc3"


class Ledger:
    """Records the updates a collection receives (the runner's only use of it)."""

    def __init__(self):
        self.updates: list[tuple[str, dict]] = []

    def update_one(self, query, update):
        self.updates.append((query["_id"], update))


class Echo(VideoStage):
    name = "echo"
    ready_key = "echoed"
    version = "echo-v1"

    def __init__(self, fail: dict[str, Exception] | None = None):
        self.fail = fail or {}
        self.calls: list[str] = []

    def setup(self):
        self.calls.append("setup")

    def teardown(self):
        self.calls.append("teardown")

    def process(self, video_id):
        self.calls.append(video_id)
        if video_id in self.fail:
            raise self.fail[video_id]
        return Result(Outcome.DONE, facts={"nodes": 3})


def test_one_failing_video_never_fails_its_batch_and_keeps_its_traceback(caplog):
    ledger, stage = Ledger(), Echo({B: RuntimeError("boom")})
    with caplog.at_level(logging.INFO):
        report = run_stage(stage, [A, B, C], videos=ledger)
    assert [(v.video_id, v.outcome) for v in report.videos] == [
        (A, "done"),
        (B, "failed"),
        (C, "done"),
    ]
    assert report.videos[1].error == f"[{B}] RuntimeError: boom"
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)
    assert stage.calls == ["setup", A, B, C, "teardown"]


def test_an_expected_error_is_a_one_line_reason_without_a_traceback(caplog):
    stage = Echo({A: InputError(f"[{A}] has no tree: run `segment` first")})
    with caplog.at_level(logging.INFO):
        report = run_stage(stage, [A], videos=Ledger())
    assert "run `segment` first" in report.videos[0].error
    assert not any(r.exc_info for r in caplog.records)


def test_bad_ids_fail_before_the_stage_sees_them_and_leave_no_record():
    ledger, stage = Ledger(), Echo()
    report = run_stage(stage, ["../etc/pw", A, A], videos=ledger)
    assert [v.outcome for v in report.videos] == ["failed", "done"]  # duplicates once
    assert "is not 11 characters" in report.videos[0].error
    assert stage.calls == ["setup", A, "teardown"] and [u[0] for u in ledger.updates] == [A]


def test_the_runner_writes_the_stage_record_and_counts_failures_in_a_row():
    ledger, stage = Ledger(), Echo({B: RuntimeError("boom")})
    run_stage(stage, [A, B], videos=ledger)
    (a, done), (b, failed) = ledger.updates
    record = {k.removeprefix("stages.echo."): v for k, v in done["$set"].items()}
    assert record["state"] == "done" and record["version"] == "echo-v1" and record["nodes"] == 3
    assert record["attempts"] == 0 and record["error"] is None and "at" in record
    assert failed["$set"]["stages.echo.state"] == "failed"
    assert failed["$inc"] == {"stages.echo.attempts": 1}


def test_each_video_is_recorded_before_the_next_starts():
    """A pod killed mid-batch (here: an interrupt) keeps the records of finished videos."""
    ledger, stage = Ledger(), Echo({B: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        run_stage(stage, [A, B, C], videos=ledger)
    assert [u[0] for u in ledger.updates] == [A] and stage.calls[-1] == "teardown"


def test_teardown_runs_when_the_loop_breaks():
    class Broken(Echo):
        def describe(self):
            raise OSError("disk full")

    stage = Broken()
    with pytest.raises(OSError):
        run_stage(stage, [A], videos=Ledger())
    assert stage.calls[-1] == "teardown"


class Claims(Echo):
    """Issue 12's hooks: a video another worker holds is not processed nor released."""

    def __init__(self):
        super().__init__()
        self.released: list[tuple[str, str]] = []

    def claim(self, video_id):
        return Result(Outcome.SKIPPED, record=False) if video_id == B else None

    def release(self, video_id, result):
        self.released.append((video_id, result.outcome))


def test_claim_and_release_surround_each_processed_video():
    stage = Claims()
    report = run_stage(stage, [A, B], videos=Ledger())
    assert [v.outcome for v in report.videos] == ["done", "skipped"]
    assert stage.calls == ["setup", A, "teardown"] and stage.released == [(A, "done")]


class Batched(VideoStage):
    name = "batched"
    ready_key = "ready"
    batched = True
    version = "b1"

    def __init__(self, crash=False):
        self.crash, self.batches = crash, []

    def prepare(self, video_id):
        return Result(Outcome.UP_TO_DATE) if video_id == A else None

    def process_batch(self, video_ids):
        self.batches.append(list(video_ids))
        if self.crash:
            raise RuntimeError("out of memory")
        return {vid: Result(Outcome.DONE) for vid in video_ids}


def test_a_batched_stage_gets_its_work_once_and_the_runner_records_each_video():
    stage = Batched()
    report = run_stage(stage, [A, B, C], videos=Ledger())
    assert stage.batches == [[B, C]]
    assert [v.outcome for v in report.videos] == ["up_to_date", "done", "done"]
    crashed = run_stage(Batched(crash=True), [A, B, C], videos=Ledger())
    assert [v.outcome for v in crashed.videos] == ["up_to_date", "failed", "failed"]
    assert "out of memory" in crashed.videos[1].error


def test_one_report_and_one_merge():
    report = run_stage(Echo({B: RuntimeError("x")}), [A, B], videos=Ledger()).as_dict()
    assert report["echoed"] == [A] and report["failed"] == [B]
    assert report["counts"] == {"done": 1, "failed": 1} and report["stage"] == "echo"
    later = run_stage(Echo(), [B, C], videos=Ledger()).as_dict()
    merged = merge_reports([report, None, later], "echoed", sums=("nodes",))
    # A video failed in one batch and done in another counts as failed: rerun it.
    assert merged["echoed"] == [A, C] and merged["failed"] == [B]
    assert merged["counts"] == {"batches_lost": 1, "nodes": 9, "done": 3, "failed": 1}


def test_one_staleness_rule():
    rule = Freshness()
    ok = {"version": "v", "status": "ok", "input_hash": "h"}
    assert not rule.is_stale(ok, "v", "h")
    assert rule.is_stale(None, "v") and rule.is_stale(ok, "w")  # nothing stored; new version
    assert rule.is_stale({**ok, "status": "error"}, "v")  # retried after an error
    assert rule.is_stale(ok, "v", "other")  # its inputs changed
    only_ok = Freshness(version_field="prompt_version", only=frozenset({"ok"}))
    assert only_ok.is_stale({"prompt_version": "v", "status": "invalid"}, "v")


# The per-video stages and the module each lives in (DESIGN.md, "Stages: one runtime").
STAGES = {
    "acquire/run.py": "Acquirer",
    "segment/run.py": "Segmenter",
    "caption/run.py": "Captioner",
    "aggregate/run.py": "Aggregator",
    "opinions/run.py": "OpinionRunner",
    "lenses/run.py": "LensStage",
    "agreement/score.py": "Scorer",
}


@pytest.mark.parametrize("module, cls", STAGES.items())
def test_every_per_video_stage_is_a_video_stage(module, cls):
    import importlib

    name = "actionlens." + module.removesuffix(".py").replace("/", ".")
    assert issubclass(getattr(importlib.import_module(name), cls), VideoStage)


UPDATES = {"$set", "$inc", "$unset", "$setOnInsert", "$push", "$pull", "$addToSet", "$rename"}


def _stage_write_keys(tree: ast.AST) -> list[int]:
    """Lines of MongoDB update operators ($set, $inc, …) naming a `stages.` field."""
    lines = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in UPDATES:
                for inner in ast.walk(value):
                    text = None
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                        text = inner.value
                    elif isinstance(inner, ast.JoinedStr) and inner.values:
                        first = inner.values[0]
                        text = first.value if isinstance(first, ast.Constant) else None
                    if text and text.startswith("stages"):
                        lines.add(inner.lineno)
    return sorted(lines)


def _loops_over_batches(tree: ast.AST) -> list[int]:
    """Lines of `for` loops and comprehensions over a batch's ids outside `process_batch`
    (the one place a stage sees a batch, handed to it by the runner)."""
    lines = []

    def visit(node, inside_batch):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside_batch = node.name == "process_batch"
        iters = []
        if isinstance(node, ast.For | ast.comprehension):
            iters = [node.iter]
        for it in iters:
            # `for vid in video_ids`: a loop over the videos themselves (cutting ids into
            # batches, `range(0, len(ids), size)`, is planning, not a loop over videos).
            if isinstance(it, ast.Name) and it.id in ("video_ids", "ids") and not inside_batch:
                lines.append(it.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, inside_batch)

    visit(tree, False)
    return lines


def test_only_the_runner_writes_stage_records_logs_progress_and_loops_over_videos():
    writes, progress, loops = [], [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel == "runtime.py" or rel.startswith("bench/"):
            continue
        tree = ast.parse(path.read_text())
        writes += [f"{rel}:{n}" for n in _stage_write_keys(tree)]
        progress += [
            f"{rel}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Progress"
        ]
        if rel in STAGES:
            loops += [f"{rel}:{n}" for n in _loops_over_batches(tree)]
    assert (writes, progress, loops) == ([], [], [])


def test_the_structural_checks_catch_a_hand_written_loop_and_record():
    code = (
        "def run(self, video_ids):\n"
        "    for vid in video_ids:\n"
        "        self.videos.update_one({'_id': vid}, {'$set': {f'stages.{STAGE}': 1}})\n"
        "def process_batch(self, video_ids):\n"
        "    return {v: 1 for v in video_ids}\n"
    )
    tree = ast.parse(code)
    assert _loops_over_batches(tree) == [2] and _stage_write_keys(tree) == [3]
