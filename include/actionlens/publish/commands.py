"""Commands of the FiftyOne publication."""

from __future__ import annotations

import argparse

from actionlens.cli import command, video_ids


@command(
    "publish-fiftyone",
    "write one FiftyOne video sample per video: temporal detections, agreement and tags",
    lambda p: p.add_argument("--videos", default=None, help="comma-separated ids (default: all)"),
)
def publish_fiftyone(args: argparse.Namespace) -> dict:
    from actionlens.publish.dataset import publish
    from actionlens.settings import get_settings
    from actionlens.warehouse import publish_snapshot

    settings = get_settings()
    result = publish(settings, video_ids(args.videos) if args.videos else None)
    # The dashboard reads sample links from the marts snapshot: refresh them there.
    refreshed = publish_snapshot(settings, marts=False)
    return result | {"snapshot_links_refreshed": refreshed is not None}
