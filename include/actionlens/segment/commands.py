"""Commands of the segmentation stage."""

from __future__ import annotations

import argparse
import json

from actionlens.cli import command, listed_videos_argument, video_ids


def _segment_args(p: argparse.ArgumentParser) -> None:
    listed_videos_argument(p)
    p.add_argument(
        "--force", action="store_true", help="rebuild trees already made by this segmenter"
    )


@command("segment", "build the Action100M segment tree of a batch of stored clips", _segment_args)
def segment(args: argparse.Namespace) -> dict:
    from actionlens.segment.run import segment_batch
    from actionlens.settings import get_settings

    return segment_batch(get_settings(), video_ids(args.videos), force=args.force).as_dict()


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", required=True, help="one video id")
    p.add_argument(
        "--segmenter", default=None, help="segmenter version (default: the video's current one)"
    )
    p.add_argument("--out", default=None, help="write the JSON record here (default: print it)")
    p.add_argument(
        "--captions", default="plm", help="caption source for plm_caption/llama3_caption"
    )
    p.add_argument(
        "--annotations", default="gpt", help="annotation source for the gpt field (e.g. ours)"
    )


@command("export-tree", "write a video's tree in the Action100M node schema", _export_args)
def export_tree(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from actionlens.records import validate_video_id
    from actionlens.segment.store import export_tree as export
    from actionlens.settings import get_settings
    from actionlens.store.mongo import connect

    record = export(
        connect(get_settings()),
        validate_video_id(args.video),
        args.segmenter,
        captions=args.captions,
        annotations=args.annotations,
    )
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))
        return {"video_uid": args.video, "nodes": len(record["nodes"]), "out": args.out}
    return record
