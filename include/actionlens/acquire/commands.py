"""Commands of the acquisition stage."""

from __future__ import annotations

import argparse

from actionlens.cli import command, listed_videos_argument, video_ids


@command(
    "plan-acquire",
    "select tonight's ids, register them in the ledger, print the batches",
    lambda p: p.add_argument("--budget", type=int, default=None, help="videos to select"),
)
def plan_acquire(args: argparse.Namespace) -> dict:
    from actionlens.acquire.run import plan
    from actionlens.settings import get_settings

    return plan(get_settings(), budget=args.budget).as_dict()


@command(
    "acquire",
    "download, normalise and store a batch of videos",
    listed_videos_argument,
)
def acquire(args: argparse.Namespace) -> dict:
    from actionlens.acquire.run import acquire_batch
    from actionlens.settings import get_settings

    return acquire_batch(get_settings(), video_ids(args.videos)).as_dict()


@command("ledger", "print the ledger's counts by state")
def ledger_summary(args: argparse.Namespace) -> dict:
    from actionlens.acquire.ledger import summary
    from actionlens.settings import get_settings
    from actionlens.store.mongo import VIDEOS, connect

    return summary(connect(get_settings())[VIDEOS])
