"""Kill points for the fault-injection suite: a Python process started with this directory
on PYTHONPATH and FAULT_POINT set wraps one named function (`module:Qual.name`) so that,
on its Nth matching call, it leaves a marker file and then does what the point says:

- kill: SIGKILL itself (a kill -9 at exactly that point), before or after the call;
- partial: a `bulk_write` that runs its first half of requests, then SIGKILL;
- pause: wait until the release file exists, then carry on (the test kills mongod meanwhile).

The marker proves the point was reached for real. FAULT_POINT is removed from the
environment once read, so children of the step (the download process) run unarmed.
"""

import json
import os
import sys


def _text(args: tuple, kwargs: dict) -> str:
    """The call's arguments as text (an object half built, as `self` in __init__, by type)."""
    parts = []
    for value in (*args, *kwargs.values()):
        try:
            parts.append(repr(value))
        except Exception:  # noqa: BLE001
            parts.append(type(value).__name__)
    return " ".join(parts)


def _arm(spec: dict) -> None:
    import functools
    import importlib
    import signal
    import time

    module_name, _, qualname = spec["target"].partition(":")
    owner = importlib.import_module(module_name)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, attr)
    nth = int(spec.get("nth", 1))
    when = spec.get("when", "before")
    action = spec.get("action", "kill")
    match = spec.get("match")  # substring of repr(args) a call must contain
    self_name = spec.get("self_name")  # e.g. a Collection's name
    calls = {"n": 0}

    def marker(detail: str) -> None:
        record = {
            "target": spec["target"],
            "call": calls["n"],
            "action": action,
            "when": when,
            "pid": os.getpid(),
            "detail": detail[:300],
            "time": time.time(),
        }
        with open(spec["marker"], "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def die() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if self_name is not None and getattr(args[0] if args else None, "name", None) != self_name:
            return original(*args, **kwargs)
        if match is not None and match not in _text(args, kwargs):
            return original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] != nth:
            return original(*args, **kwargs)
        if action == "pause":
            marker("paused")
            deadline = time.monotonic() + float(spec.get("pause_seconds", 120))
            while not os.path.exists(spec["release"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            return original(*args, **kwargs)
        if action == "partial":
            # bulk_write(self, requests, ...): the first half reaches the server, then death.
            self, requests, *rest = args
            requests = list(requests)
            half = max(1, len(requests) // 2)
            original(self, requests[:half], *rest, **kwargs)
            marker(f"{half} of {len(requests)} requests written")
            die()
        if when == "after":
            result = original(*args, **kwargs)
            marker(_text(args, kwargs))
            die()
            return result
        marker(_text(args, kwargs))
        die()

    setattr(owner, attr, wrapper)


_SPEC = os.environ.pop("FAULT_POINT", None)
if _SPEC:
    _arm(json.loads(_SPEC))
