"""Commands of the confidence dashboard."""

from __future__ import annotations

import argparse

from actionlens.cli import command


@command(
    "confidence-summary",
    "print the confidence summary from the warehouse marts and the dashboard URL",
)
def confidence_summary(args: argparse.Namespace) -> dict:
    from actionlens.dashboard.page import summary
    from actionlens.settings import get_settings

    return summary(get_settings())
