"""`python -m actionlens <step> …`: every heavy step as a command.

The same command runs as a Kubernetes pod or a local subprocess; with `--result-file` it
writes its JSON result where the runner collects it (a pod's /airflow/xcom/return.json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from actionlens.errors import ActionlensError, StoreUnavailable

COMMANDS: dict[str, Callable[[argparse.Namespace], dict]] = {}

# Modules that register commands with @command; a new stage adds its module here.
COMMAND_MODULES = (
    "actionlens.store.commands",
    "actionlens.acquire.commands",
    "actionlens.segment.commands",
    "actionlens.caption.commands",
    "actionlens.aggregate.commands",
    "actionlens.reference.commands",
    "actionlens.agreement.commands",
    "actionlens.warehouse.commands",
    "actionlens.publish.commands",
    "actionlens.opinions.commands",
    "actionlens.lenses.commands",
    "actionlens.dashboard.commands",
    "actionlens.bench.commands",
    "actionlens.orchestration.preflight",
)

Arguments = Callable[[argparse.ArgumentParser], None]


def command(name: str, help: str, arguments: Arguments | None = None):
    """Register a step; its function takes parsed args and returns a JSON-able result."""

    def wrap(fn):
        fn.help = help
        fn.arguments = arguments
        COMMANDS[name] = fn
        return fn

    return wrap


def video_ids(value: str) -> list[str]:
    """Parse `--videos a,b,c` (each id is validated where it is used)."""
    return [v for v in (s.strip() for s in value.split(",")) if v]


def names(value: str) -> list[str]:
    """Parse `--lenses a,b` / `--sources a,b`."""
    return [v for v in (s.strip() for s in value.split(",")) if v]


def listed_videos_argument(p: argparse.ArgumentParser) -> None:
    """`--videos a,b`: the batch of a per-video stage (parse it with `video_ids`)."""
    p.add_argument("--videos", required=True, help="comma-separated video ids")


def tree_version_argument(p: argparse.ArgumentParser) -> None:
    """`--segmenter`: which stored tree of each video a stage works on."""
    p.add_argument(
        "--segmenter", default=None, help="tree version (default: the video's current one)"
    )


def videos_or_all_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--videos",
        required=True,
        help="comma-separated video ids, or 'all' (every annotated video)",
    )


def annotated_or_listed(value: str, settings) -> list[str]:
    """`--videos a,b` or `--videos all` (every video with an annotated node)."""
    if value.strip().lower() != "all":
        return video_ids(value)
    from actionlens.store.mongo import connect
    from actionlens.tree import annotated_video_ids

    return annotated_video_ids(connect(settings), {s.source for s in settings.opinions.sources})


# Options whose value may itself start with `-` (a YouTube id may: `-dashstart0`).
DASH_VALUED = ("--videos",)


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """`--videos -abc,def` → `--videos=-abc,def`: argparse would read a value that starts
    with `-` as an unknown option and stop with "expected one argument"."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        arg = items[i]
        if arg in DASH_VALUED and i + 1 < len(items) and items[i + 1].startswith("-"):
            out.append(f"{arg}={items[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actionlens", description=__doc__.splitlines()[0])
    parser.add_argument("--result-file", type=Path, help="also write the JSON result here")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=fn.help)
        if fn.arguments:
            fn.arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = COMMANDS[args.command](args)
    except StoreUnavailable as exc:
        # What was done before the outage is still the step's result: print it, then fail.
        if exc.result is not None:
            _emit(exc.result, args.result_file)
        print(f"actionlens {args.command}: {exc}", file=sys.stderr)
        return 3
    except ActionlensError as exc:
        print(f"actionlens {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from pymongo.errors import ConnectionFailure

        if not isinstance(exc, ConnectionFailure):
            raise
        from actionlens.store.mongo import unreachable

        print(f"actionlens {args.command}: {unreachable(exc)}", file=sys.stderr)
        return 3
    _emit(result, args.result_file)
    return 0


def _emit(result: dict, result_file: Path | None) -> None:
    text = json.dumps(result, default=str)
    if result_file:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(text)
    print(text)
