"""Commands of stage 2."""

from __future__ import annotations

import argparse

from actionlens.cli import command, listed_videos_argument, tree_version_argument, video_ids


def _args(p: argparse.ArgumentParser) -> None:
    listed_videos_argument(p)
    tree_version_argument(p)
    p.add_argument("--force", action="store_true", help="caption nodes that are up to date too")


@command("caption", "caption every node of the videos' trees (Tree-of-Captions)", _args)
def caption(args: argparse.Namespace) -> dict:
    from actionlens.caption.run import caption_batch
    from actionlens.settings import get_settings

    return caption_batch(
        get_settings(), video_ids(args.videos), segmenter=args.segmenter, force=args.force
    ).as_dict()
