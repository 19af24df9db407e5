"""Commands of the lenses stage: lenses, neighbours and text → video search."""

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


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='what to look for, e.g. "pour batter"')
    p.add_argument("--k", type=int, default=10, help="how many videos to list (default 10)")
    p.add_argument(
        "--lens",
        default=None,
        help="a lens with a text side (default: the text-video lens, else the transcript lens)",
    )


@command(
    "search",
    "rank videos for a text query through a lens with a text side; titles, scores, links",
    _search_args,
)
def search(args: argparse.Namespace) -> dict:
    from actionlens.lenses.search import render
    from actionlens.lenses.search import search as run_search
    from actionlens.settings import get_settings

    result = run_search(get_settings(), args.query, k=args.k, lens=args.lens)
    print(render(result), flush=True)  # for people; the JSON line follows for programs
    return result
