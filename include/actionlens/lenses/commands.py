"""Commands of the lenses stage: lenses and neighbours."""

from __future__ import annotations

import argparse

from actionlens.cli import annotated_or_listed, command, names, videos_or_all_argument


def _lens_args(p: argparse.ArgumentParser) -> None:
    videos_or_all_argument(p)
    p.add_argument(
        "--lenses", type=names, default=None, help="lenses to compute (default: all configured)"
    )
    p.add_argument("--force", action="store_true", help="re-embed videos that are up to date too")


@command(
    "lenses", "one normalized embedding per video and lens, and the zero-shot category", _lens_args
)
def lenses(args: argparse.Namespace) -> dict:
    from actionlens.lenses.run import lenses_batch
    from actionlens.settings import get_settings

    settings = get_settings()
    return lenses_batch(
        settings, annotated_or_listed(args.videos, settings), lenses=args.lenses, force=args.force
    )


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
