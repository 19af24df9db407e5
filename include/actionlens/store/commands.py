"""Commands for the embedded services."""

from __future__ import annotations

import argparse

from actionlens.cli import command


@command(
    "mongo",
    "start, stop or show the embedded mongod",
    lambda p: p.add_argument("action", choices=["start", "stop", "status"]),
)
def mongo(args: argparse.Namespace) -> dict:
    from actionlens.settings import get_settings
    from actionlens.store.embedded import EmbeddedMongo

    settings = get_settings()
    server = EmbeddedMongo(settings.home / "mongo", mongod_bin=settings.mongod_bin)
    if args.action == "start":
        return {"uri": server.start()}
    if args.action == "stop":
        return {"stopped": server.stop()}
    running = server.running()
    return {"running": running, "uri": server.uri if running else None}
