"""Fixtures of the fault-injection suite: a synthetic source on loopback, one clean run of
the chain (acquire → segment → annotations → score → load) with a checkpoint after each
step, and the fault table every case adds its row to (printed after the run, and written
to FAULT_TABLE or <basetemp>/fault-table.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fault_harness import (
    LEASE_SECONDS,
    Case,
    FaultRow,
    annotate,
    step_argv,
    table_markdown,
    take_checkpoint,
)

ROWS: list[FaultRow] = []
STEPS = ("acquire", "segment", "annotate", "score", "load")


@pytest.fixture(scope="session")
def fault_world(tmp_path_factory, ffmpeg, mongod):
    """The source and the settings every case starts from (its own database per case)."""
    from actionlens.serve import StaticServer
    from actionlens.settings import Settings
    from actionlens.testing.media import make_source

    root = tmp_path_factory.mktemp("faults")
    src = make_source(root / "source", ffmpeg=ffmpeg, n_videos=2, seconds=4.0)
    with StaticServer(src.videos_dir) as server:
        base = Settings(
            home=root / "home",  # shared: the sentence model's ONNX export is made once
            mongo_uri=mongod,
            mongo_db="unused",
            bucket=str(root / "bucket"),
        )
        base = base.model_copy(
            update={
                "acquire": base.acquire.model_copy(
                    update={
                        "manifest": str(src.manifest),
                        "task_ids": str(src.task_ids),
                        "transcripts": str(src.transcripts),
                        "url_template": server.url + "/{video_id}.mp4",
                        "clip_seconds": 4.0,
                        "lease_seconds": LEASE_SECONDS,
                        "batch_size": 2,
                    }
                ),
                "segment": base.segment.model_copy(update={"sample_every": 2}),
            }
        )
        yield {"root": root, "source": src, "server": server, "settings": base}


@pytest.fixture(scope="session")
def clean_run(fault_world):
    """The chain run once without faults; a checkpoint of the stores after each step."""
    from actionlens.acquire.run import plan

    root = fault_world["root"]
    case = Case(root / "clean", fault_world["settings"], Path(fault_world["settings"].bucket))
    ids = fault_world["source"].ids
    plan(case.settings)
    points = {"registered": take_checkpoint(case, root / "ck" / "registered")}
    hits = {}
    for step in STEPS:
        if step == "annotate":
            annotate(case.db())
        else:
            before = dict(fault_world["server"].hits)
            done = case.run(step_argv(step, ids))
            if step == "acquire":  # the source requests one clean acquisition makes
                hits = {k: n - before.get(k, 0) for k, n in fault_world["server"].hits.items()}
            assert done.returncode == 0, f"clean {step}: {done.stderr[-3000:]}"
        points[step] = take_checkpoint(case, root / "ck" / step)
    for step, point in points.items():
        assert point.state["processes"] == [], step
        assert point.state["tmp"] == [], step
    yield {"ids": ids, "points": points, "case": case, "acquire_hits": hits}
    case.db().client.drop_database(case.settings.mongo_db)


@pytest.fixture
def new_case(fault_world, clean_run, tmp_path):
    """`new_case(start)`: a case whose stores hold what the clean run had after `start`."""
    from fault_harness import restore

    made = []

    def make(start: str, settings=None) -> Case:
        base = settings or fault_world["settings"]
        case = Case(tmp_path / f"case{len(made)}", base, Path(fault_world["settings"].bucket))
        restore(case, clean_run["points"][start])
        made.append(case)
        return case

    yield make
    for case in made:
        case.db().client.drop_database(case.settings.mongo_db)


@pytest.fixture
def fault_row(request):
    """The case's row of the fault table; filled in by the test, kept even when it fails."""
    spec = getattr(request.node, "callspec", None)
    name = spec.id if spec else request.node.name.removeprefix("test_")
    row = FaultRow(case=name, step="", kill_point="")
    ROWS.append(row)
    return row


def pytest_terminal_summary(terminalreporter, config):
    if not ROWS:
        return
    text = table_markdown(ROWS)
    target = Path(os.environ.get("FAULT_TABLE") or config._tmp_path_factory.getbasetemp())
    if target.is_dir():
        target = target / "fault-table.md"
    target.write_text(text + "\n")
    (target.with_suffix(".json")).write_text(json.dumps([r.__dict__ for r in ROWS], indent=1))
    terminalreporter.write_sep("=", "fault table")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {target})")
