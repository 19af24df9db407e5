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


@command(
    "brain-fiftyone",
    "after the last publish batch: the three lens vectors on the samples, brain runs "
    "(UMAP, similarity, uniqueness, representativeness) and the zero-shot classes",
)
def brain_fiftyone(args: argparse.Namespace) -> dict:
    from actionlens.publish.brain import run_brain
    from actionlens.settings import get_settings

    return run_brain(get_settings())
