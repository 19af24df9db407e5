"""Commands of the second-opinions stage."""

from __future__ import annotations

import argparse

from actionlens.cli import annotated_or_listed, command, names, videos_or_all_argument


def _opinion_args(p: argparse.ArgumentParser) -> None:
    videos_or_all_argument(p)
    p.add_argument(
        "--sources",
        type=names,
        default=None,
        help="opinion sources to run (default: all configured)",
    )
    p.add_argument("--force", action="store_true", help="ask about nodes that are up to date too")


@command(
    "opinions",
    "second opinions on every annotated node of the videos (stage-3 schema)",
    _opinion_args,
)
def opinions(args: argparse.Namespace) -> dict:
    from actionlens.opinions.run import opinions_batch
    from actionlens.settings import get_settings

    settings = get_settings()
    return opinions_batch(
        settings, annotated_or_listed(args.videos, settings), sources=args.sources, force=args.force
    )
