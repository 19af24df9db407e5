"""The package stands on its own: it imports without Airflow, only settings.py reads
configuration from the environment, and its layers point down."""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import actionlens

PACKAGE = Path(actionlens.__file__).parent
AIRFLOW_GLUE = ("actionlens.orchestration",)  # imported only by DAG files and plugins


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "actionlens.")]
    return sorted(n for n in names if not n.startswith(AIRFLOW_GLUE) and not n.endswith("__main__"))


def test_every_module_imports_without_airflow():
    code = (
        "import importlib, sys\n"
        "sys.modules['airflow'] = None  # any `import airflow` now fails\n"
        f"for name in {_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


# Reading configuration: os.getenv(...), os.environ.get(...), os.environ["X"] not assigned,
# and copies of the whole environment ({**os.environ}, dict(os.environ), .copy(), .items()).
_READS = re.compile(
    r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=[^=])"
    r"|\*\*os\.environ\b|dict\(os\.environ\)|os\.environ\.(copy|items|keys|values)\("
)


def test_environment_read_pattern_catches_copies():
    for line in (
        'env = {**os.environ, "A": "1"}',
        "env = dict(os.environ)",
        "env = os.environ.copy()",
        'x = os.environ.get("A")',
        'x = os.environ["A"]',
    ):
        assert _READS.search(line), line
    assert not _READS.search('os.environ["A"] = "1"')


def test_only_settings_reads_the_environment():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py" and path.parent == PACKAGE:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if _READS.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{no}: {line.strip()}")
    assert offenders == []


# The stage packages (DESIGN.md, "Stages: one runtime"), and what sits above all of them.
STAGES = (
    "acquire",
    "segment",
    "caption",
    "aggregate",
    "opinions",
    "lenses",
    "agreement",
    "reference",
    "warehouse",
    "publish",
)
ABOVE = ("bench", "dashboard", "orchestration", "demo", "demo_inputs", "devstack", "serve", "cli")
# Test support (generators, tiny checkpoints, the loopback server): the tests, the demo and
# the benchmarks use it; product code never does.
TEST_SUPPORT = ("testing",)
# A package's `commands.py` registers its steps with the CLI: that one import points up.
COMMANDS_MAY_IMPORT = ("cli",)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every actionlens import, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return [f for f in found if f[1].startswith("actionlens.")]


def layer_violations() -> list[str]:
    """Imports that point up or sideways: a stage importing what sits above the stages,
    or another stage other than by the names that stage's package exports (`__all__`);
    the stores, models, media and records importing any stage or anything above; any of
    them importing the test support (`actionlens.testing`), which itself may import any
    stage but nothing above the stages."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        if own in ABOVE or own in ("__init__", "__main__"):
            continue
        for line, module, names in _imports(path):
            target = module.split(".")[1]
            if path.name == "commands.py" and target in COMMANDS_MAY_IMPORT:
                continue
            where = f"{rel}:{line} imports {module}"
            if target in ABOVE:
                out.append(f"{where} (above the stages)")
            elif own in TEST_SUPPORT:
                continue  # test support builds inputs for any stage
            elif target in TEST_SUPPORT:
                out.append(f"{where} (test support, not product code)")
            elif target in STAGES and target != own:
                if own not in STAGES:
                    out.append(f"{where} (a lower layer importing a stage)")
                    continue
                exported = getattr(importlib.import_module(f"actionlens.{target}"), "__all__", [])
                private = module != f"actionlens.{target}" or not set(names) <= set(exported)
                if private:
                    out.append(f"{where} {names} (not exported by actionlens.{target})")
    return out


def test_layers_point_down():
    assert layer_violations() == []


def test_layer_rule_forbids_an_upward_and_a_sideways_import(tmp_path, monkeypatch):
    """The rule itself: a stage importing the dashboard, a stage's run module, a name
    another stage does not export, or the test support is caught; an exported name is
    not."""
    stage = tmp_path / "caption"
    stage.mkdir()
    (stage / "run.py").write_text(
        "from actionlens.dashboard.page import summary\n"
        "def f():\n"
        "    from actionlens.acquire.run import plan\n"
        "    from actionlens.warehouse import open_warehouse, load_videos\n"
        "    from actionlens.warehouse import video_confidence\n"
        "    from actionlens.testing.trees import small_tree\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    found = layer_violations()
    assert [f.split(" imports ")[1].split(" ")[0] for f in found] == [
        "actionlens.dashboard.page",
        "actionlens.acquire.run",
        "actionlens.warehouse",
        "actionlens.testing.trees",
    ]
