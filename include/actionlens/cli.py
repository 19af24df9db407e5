"""`python -m actionlens <step> …`: every heavy step as a command.

The same command runs as a Kubernetes pod or a local subprocess; with `--result-file` it
writes its JSON result where the runner collects it (a pod's /airflow/xcom/return.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from actionlens.errors import ActionlensError

COMMANDS: dict[str, Callable[[argparse.Namespace], dict]] = {}


def command(name: str, help: str):
    """Register a step; its function takes parsed args and returns a JSON-able result."""

    def wrap(fn):
        fn.help = help
        COMMANDS[name] = fn
        return fn

    return wrap


def _ids(value: str) -> list[str]:
    return [v for v in (s.strip() for s in value.split(",")) if v]


@command("plan-acquire", "select tonight's ids, register them, print the batches")
def _plan_acquire(args: argparse.Namespace) -> dict:
    from actionlens.acquire.run import plan
    from actionlens.settings import get_settings

    return plan(get_settings(), budget=args.budget).as_dict()


@command("acquire", "download, normalise and store a batch of videos")
def _acquire(args: argparse.Namespace) -> dict:
    from actionlens.acquire.run import acquire_batch
    from actionlens.settings import get_settings

    report = acquire_batch(get_settings(), _ids(args.videos))
    return report.model_dump(mode="json")


@command("ledger", "print the ledger's counts by state")
def _ledger(args: argparse.Namespace) -> dict:
    from actionlens.acquire.ledger import summary
    from actionlens.settings import get_settings
    from actionlens.store.mongo import VIDEOS, connect

    return summary(connect(get_settings())[VIDEOS])


@command("mongo", "start, stop or show the embedded mongod")
def _mongo(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings
    from actionlens.store.embedded import EmbeddedMongo

    settings = get_settings()
    server = EmbeddedMongo(settings.home / "mongo", mongod_bin=settings.mongod_bin)
    if args.action == "start":
        return {"uri": server.start()}
    if args.action == "stop":
        return {"stopped": server.stop()}
    return {"running": server.running(), "uri": server.uri if server.running() else None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actionlens", description=__doc__.splitlines()[0])
    parser.add_argument("--result-file", type=Path, help="also write the JSON result here")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=fn.help)
        p.add_argument("--result-file", type=Path, default=argparse.SUPPRESS)
        if name == "acquire":
            p.add_argument("--videos", required=True, help="comma-separated video ids")
        if name == "plan-acquire":
            p.add_argument("--budget", type=int, default=None)
        if name == "mongo":
            p.add_argument("action", choices=["start", "stop", "status"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = COMMANDS[args.command](args)
    except ActionlensError as exc:
        print(f"actionlens {args.command}: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, default=str)
    if args.result_file:
        args.result_file.parent.mkdir(parents=True, exist_ok=True)
        args.result_file.write_text(text)
    print(text)
    return 0
