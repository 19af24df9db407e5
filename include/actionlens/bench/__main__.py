"""`python -m actionlens.bench [stage …]`: run every stage's benchmark (or the named ones)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import actionlens.bench as package


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )
    failed = []
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"actionlens.bench.{name}")
        code = module.main([])
        print(
            f"=== bench {name}: {time.perf_counter() - started:.1f}s, exit {code} ===", flush=True
        )
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
