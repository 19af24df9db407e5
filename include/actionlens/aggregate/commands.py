"""Commands of stage 3."""

from __future__ import annotations

import argparse

from actionlens.cli import command, listed_videos_argument, tree_version_argument, video_ids


def _args(p: argparse.ArgumentParser) -> None:
    listed_videos_argument(p)
    tree_version_argument(p)
    p.add_argument(
        "--captions", default=None, help="caption source to aggregate (default: the captioner's)"
    )
    p.add_argument("--force", action="store_true", help="annotate nodes that are up to date too")


@command("aggregate", "annotate non-leaf nodes >= 4 s from their captions (Self-Refine)", _args)
def aggregate(args: argparse.Namespace) -> dict:
    from actionlens.aggregate.run import aggregate_batch
    from actionlens.settings import get_settings

    return aggregate_batch(
        get_settings(),
        video_ids(args.videos),
        segmenter=args.segmenter,
        captions=args.captions,
        force=args.force,
    )
