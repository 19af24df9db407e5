"""Orchestration from the declarations: a step's pod asks for a GPU when a backend it runs
declares one, every DAG announces through `announce` and batches through
`batch_arguments`, and the event extras keep the keys downstream DAGs read."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from actionlens.backends import CHAT_MODELS
from actionlens.orchestration.plan import batch_arguments, ids_from_events
from actionlens.orchestration.runner import STEP_BACKENDS, heavy_step, needs_gpu
from actionlens.registry import Backend
from actionlens.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
ORCHESTRATION = sorted((REPO / "include" / "actionlens" / "orchestration").glob("*.py"))

pytestmark = [
    pytest.mark.usefixtures("fake_kubernetes_conn"),
    # heavy_step returns a partial operator; these tests read its pod spec, never map it.
    pytest.mark.filterwarnings("ignore:Task .* was never mapped"),
]


def _pod_gpu(step: str, settings: Settings) -> bool:
    """Whether the mapped pod task `heavy_step` builds for `step` requests a GPU."""
    partial = heavy_step(step, task_id=step, settings=settings)
    limits = partial.kwargs["container_resources"].limits or {}
    return settings.pods.gpu_resource in limits


def _k8s(**sections) -> Settings:
    return Settings(runner="kubernetes", **sections)


def _sources(*backends: str) -> dict:
    return {
        "sources": [
            {"source": f"s{i}", "backend": b, "model_id": f"m{i}"} for i, b in enumerate(backends)
        ]
    }


def _lenses(*backends: str) -> dict:
    return {
        "lenses": [
            {"lens": f"l{i}", "backend": b, "model_id": f"m{i}"} for i, b in enumerate(backends)
        ]
    }


# (step, settings choosing a GPU backend, settings choosing a CPU baseline)
SWITCHES = [
    ("segment", {"segment": {"backend": "vjepa2"}}, {"segment": {"backend": "pixels"}}),
    (
        "caption",
        {"models": {"captioner": {"backend": "qwen3vl", "model_id": "Qwen/Qwen3-VL-4B-Instruct"}}},
        {"models": {"captioner": {"backend": "transcript", "model_id": "t"}}},
    ),
    (
        "aggregate",
        {"models": {"aggregator": {"backend": "transformers-auto", "model_id": "m"}}},
        {"models": {"aggregator": {"backend": "openai", "model_id": "gpt-oss-120b"}}},
    ),
    (
        "opinions",
        {"opinions": _sources("opinion-frames", "transformers-auto")},
        {"opinions": _sources("opinion-frames", "opinion-transcript", "openai")},
    ),
    (
        "lenses",
        {"opinions": _lenses("sentence", "mean-pooled")},
        {"opinions": _lenses("sentence", "frame-histogram", "frame-motion")},
    ),
]


@pytest.mark.parametrize(("step", "gpu", "cpu"), SWITCHES, ids=[s[0] for s in SWITCHES])
def test_a_gpu_backend_gets_a_gpu_pod_and_a_cpu_baseline_none(step, gpu, cpu):
    assert _pod_gpu(step, _k8s(**gpu)) is True
    assert _pod_gpu(step, _k8s(**cpu)) is False


def test_the_pod_follows_the_backend_declaration_not_a_list_of_names(monkeypatch):
    """Declare the transcript baseline a GPU backend and its caption pod asks for one."""
    settings = _k8s(models={"captioner": {"backend": "transcript", "model_id": "t"}})
    assert _pod_gpu("caption", settings) is False
    entry = CHAT_MODELS._table["transcript"]
    monkeypatch.setitem(CHAT_MODELS._table, "transcript", entry._replace(needs_gpu=True))
    assert _pod_gpu("caption", settings) is True


def test_gpu_need_is_the_declared_capability_of_each_steps_backends():
    everything_gpu = _k8s(
        segment={"backend": "vjepa2"},
        models={
            "captioner": {"backend": "qwen3vl", "model_id": "q"},
            "aggregator": {"backend": "qwen3vl", "model_id": "q"},
        },
        opinions={**_sources("qwen3vl"), **_lenses("mean-pooled")},
    )
    for step, chosen in STEP_BACKENDS.items():
        declared = any(r.needs(name, "needs_gpu") for r, name in chosen(everything_gpu))
        assert needs_gpu(step, everything_gpu) is declared is True, step
    # Steps that run no model backend never ask for a GPU, whatever the models are.
    for step in ("acquire", "score-agreement", "load-warehouse", "neighbours", "brain-fiftyone"):
        assert _pod_gpu(step, everything_gpu) is False, step


def test_an_unknown_backend_fails_the_parse_naming_the_setting():
    from actionlens.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="segment.backend='nope'"):
        heavy_step("segment", task_id="segment", settings=_k8s(segment={"backend": "nope"}))


def _announce_task(dag_file: str, task_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / dag_file))
    assert bag.import_errors == {}
    [dag] = bag.dags.values()
    return dag.get_task(task_id)


def _run(task, reports: list) -> tuple[dict, dict]:
    """Run an announce task's callable: (its return value, the event's extra)."""
    [asset] = task.outlets
    events = {asset: SimpleNamespace(extra=None)}
    result = task.python_callable(reports, outlet_events=events)
    return result, events[asset].extra


def _batch(**outcomes: str) -> dict:
    return {"videos": [{"video_id": v, "outcome": o} for v, o in outcomes.items()]}


@pytest.mark.parametrize(
    ("dag_file", "task_id", "asset", "ready_key"),
    [
        ("howto100m_acquire.py", "publish", "actionlens_stored_clips", "stored"),
        ("tree_of_captions.py", "publish_annotations", "actionlens_annotations", "annotated"),
    ],
)
def test_announce_emits_the_ready_ids_as_video_ids(dag_file, task_id, asset, ready_key):
    task = _announce_task(dag_file, task_id)
    assert [o.name for o in task.outlets] == [asset] and task.trigger_rule == "all_done"
    reports = [_batch(bbbbbbbbbb2="done", aaaaaaaaaa1="up_to_date", ccccccccccc="failed"), None]
    result, extra = _run(task, reports)
    assert extra == {"video_ids": ["aaaaaaaaaa1", "bbbbbbbbbb2"]}
    assert result[ready_key] == extra["video_ids"] and result["failed"] == ["ccccccccccc"]
    assert result["counts"]["batches_lost"] == 1
    # What the next DAG reads back from the event.
    assert ids_from_events({asset: [{"extra": extra}]}) == extra["video_ids"]


def test_announce_is_skipped_without_a_ready_video():
    from airflow.sdk.exceptions import AirflowSkipException

    task = _announce_task("howto100m_acquire.py", "publish")
    with pytest.raises(AirflowSkipException, match="actionlens_stored_clips"):
        _run(task, [_batch(aaaaaaaaaa1="failed"), None])
    with pytest.raises(AirflowSkipException):
        _run(task, [None])


def test_the_opinions_announcement_keeps_its_keys_and_counts():
    task = _announce_task("second_opinions.py", "publish_opinions")
    assert [o.name for o in task.outlets] == ["actionlens_opinions"]
    line = {"asked": 2, "invalid": 1, "errors": 0}
    reports = [
        {
            "sources": [
                {"videos": [{"video_id": "aaaaaaaaaa1", "outcome": "done", **line}]},
                {"videos": [{"video_id": "aaaaaaaaaa2", "outcome": "failed", **line}]},
            ]
        },
        {"sources": [{"videos": [{"video_id": "aaaaaaaaaa3", "outcome": "skipped"}]}]},
    ]
    result, extra = _run(task, reports)
    assert extra == {
        "video_ids": ["aaaaaaaaaa1", "aaaaaaaaaa2", "aaaaaaaaaa3"],
        "opinions_failed": ["aaaaaaaaaa2"],
        "without_opinions": ["aaaaaaaaaa3"],
    }
    assert result["opined"] == ["aaaaaaaaaa1"] and result["counts"]["asked"] == 4


def test_batch_arguments_cut_in_order_once_each():
    assert batch_arguments(["a", "b", "a", "c"], 2) == [["--videos=a,b"], ["--videos=c"]]
    assert batch_arguments([], 8) == []
    assert batch_arguments([], 8, all_when_empty=True) == [[]]
    assert batch_arguments(["-dashstart0"], 8) == [["--videos=-dashstart0"]]
    with pytest.raises(ValueError, match="batch size 0"):
        batch_arguments(["a"], 0)


# --- The declarations are the only source: checked on the code itself. ---


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name
    ]


def test_ids_from_events_is_defined_once():
    defined = [
        f"{path.relative_to(REPO)}"
        for path in [*REPO.joinpath("include").rglob("*.py"), *DAG_FILES]
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef) and node.name == "ids_from_events"
    ]
    assert defined == ["include/actionlens/orchestration/plan.py"]


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_every_dag_plans_with_batch_arguments_and_announces_with_announce(path):
    tree = _tree(path)
    # Every @task that returns step arguments (list[list[str]]) builds them with the helper.
    plans = [
        f
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef)
        and ast.unparse(f.returns or ast.Constant(None)) == "list[list[str]]"
    ]
    assert plans, path.name
    for f in plans:
        assert _calls(f, "batch_arguments"), f"{path.name}: {f.name} batches by hand"
        assert not _calls(f, "videos_argument"), f"{path.name}: {f.name} builds --videos itself"
    # A task with outlets is built by announce, never by hand.
    for call in _calls(tree, "task"):
        assert not any(k.arg == "outlets" for k in call.keywords), path.name
    for deco in (
        d for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for d in f.decorator_list
    ):
        assert not (isinstance(deco, ast.Call) and any(k.arg == "outlets" for k in deco.keywords))


def test_dags_with_an_asset_announce_it_and_no_dag_hides_its_tasks():
    announcing = {p.name for p in DAG_FILES if _calls(_tree(p), "announce")}
    assert announcing == {"howto100m_acquire.py", "tree_of_captions.py", "second_opinions.py"}
    # Task groups hidden in orchestration factories are gone: a DAG file calls only the
    # single-task factories (and the dbt stage, a task group by design on Postgres).
    factories = {"heavy_step", "announce", "warehouse_build"}
    for path in DAG_FILES:
        imported = {
            a.name
            for n in ast.walk(_tree(path))
            if isinstance(n, ast.ImportFrom)
            and (n.module or "").startswith("actionlens.orchestration.")
            and n.col_offset == 0
            for a in n.names
        }
        called = imported - {"ANNOTATIONS", "OPINIONS", "STORED_CLIPS", "BASE_TAGS", "DEFAULT_ARGS"}
        assert called <= factories | {"opinions_announcement"}, (path.name, called)


def test_no_gpu_decision_is_kept_by_hand_in_orchestration_or_dags():
    """No `gpu=` argument, and no literal backend name outside the registry tables."""
    import actionlens.backends as tables

    names = {n for r in (tables.CHAT_MODELS, tables.EMBEDDERS, tables.LENS_BACKENDS) for n in r}
    for path in [*ORCHESTRATION, *DAG_FILES]:
        tree = _tree(path)
        for call in _calls(tree, "heavy_step"):
            assert not any(k.arg == "gpu" for k in call.keywords), path.name
        literals = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        assert not literals & names, (path.name, literals & names)


def test_a_registry_entry_without_a_declaration_is_still_read_from_its_class():
    from actionlens.registry import Registry

    registry = Registry(
        "t", {"x": "actionlens.models.baselines:TranscriptCaptioner"}, setting="t.backend"
    )
    assert registry.needs("x", "needs_gpu") is False
    registry.register("y", Backend("actionlens.models.baselines:TranscriptCaptioner", True, False))
    assert registry.needs("y", "needs_gpu") is True
