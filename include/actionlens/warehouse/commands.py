"""Commands of the warehouse stage."""

from __future__ import annotations

import argparse

from actionlens.cli import command, video_ids


@command(
    "load-warehouse",
    "copy videos, nodes and agreement scores from MongoDB into the warehouse raw tables",
    lambda p: p.add_argument("--videos", default=None, help="comma-separated ids (default: all)"),
)
def load_warehouse(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings
    from actionlens.warehouse.load import load_videos

    return load_videos(get_settings(), video_ids(args.videos) if args.videos else None)


@command(
    "load-neighbours",
    "replace the warehouse's nearest-neighbour lists (every lens) with MongoDB's",
)
def load_neighbours(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings
    from actionlens.warehouse.load import load_neighbours as load

    return load(get_settings())


@command(
    "build-warehouse",
    "dbt build of the whole project (models, data and unit tests), then the marts snapshot",
)
def build_warehouse(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings
    from actionlens.warehouse.dbt import build_warehouse as build

    return build(get_settings())
