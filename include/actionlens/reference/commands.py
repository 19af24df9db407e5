"""Commands of the reference import."""

from __future__ import annotations

import argparse

from actionlens.cli import command


@command(
    "import-action100m",
    "import Action100M parquet files (paths or gs:// URIs) into videos and nodes",
    lambda p: p.add_argument("files", nargs="+", help="parquet files or gs:// URIs"),
)
def import_action100m(args: argparse.Namespace) -> dict:
    from actionlens.reference.action100m import import_files
    from actionlens.settings import get_settings

    return import_files(get_settings(), list(args.files)).as_dict()
