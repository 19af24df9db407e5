"""Commands of the second-opinions stage: opinions, lenses, neighbours, bench-opinions."""

from __future__ import annotations

import argparse

from actionlens.cli import command, video_ids


def _names(value: str) -> list[str]:
    return [v for v in (s.strip() for s in value.split(",")) if v]


def _ids(args: argparse.Namespace, settings) -> list[str]:
    """`--videos a,b` or `--videos all` (every video with an annotated node)."""
    if args.videos.strip().lower() != "all":
        return video_ids(args.videos)
    from actionlens.opinions.run import annotated_video_ids
    from actionlens.store.mongo import connect

    return annotated_video_ids(connect(settings), {s.source for s in settings.opinions.sources})


def _opinion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--videos",
        required=True,
        help="comma-separated video ids, or 'all' (every annotated video)",
    )
    p.add_argument(
        "--sources",
        type=_names,
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
    return opinions_batch(settings, _ids(args, settings), sources=args.sources, force=args.force)


def _lens_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--videos",
        required=True,
        help="comma-separated video ids, or 'all' (every annotated video)",
    )
    p.add_argument(
        "--lenses", type=_names, default=None, help="lenses to compute (default: all configured)"
    )
    p.add_argument("--force", action="store_true", help="re-embed videos that are up to date too")


@command(
    "lenses", "one normalized embedding per video and lens, and the zero-shot category", _lens_args
)
def lenses(args: argparse.Namespace) -> dict:
    from actionlens.lenses.run import lenses_batch
    from actionlens.settings import get_settings

    settings = get_settings()
    return lenses_batch(settings, _ids(args, settings), lenses=args.lenses, force=args.force)


def _neighbour_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=None, help="neighbours per video (default: opinions.k)")


@command(
    "neighbours",
    "exact k nearest neighbours per lens and their cross-lens overlap",
    _neighbour_args,
)
def neighbours(args: argparse.Namespace) -> dict:
    from actionlens.lenses.neighbours import compute_neighbours
    from actionlens.settings import get_settings

    return compute_neighbours(get_settings(), k=args.k)
