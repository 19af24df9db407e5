"""The package stands on its own: it imports without Airflow, and only settings.py reads
configuration from the environment."""

from __future__ import annotations

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


# Reading configuration: os.getenv(...), os.environ.get(...), os.environ["X"] not assigned.
_READS = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=[^=])")


def test_only_settings_reads_the_environment():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py" and path.parent == PACKAGE:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if _READS.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{no}: {line.strip()}")
    assert offenders == []
