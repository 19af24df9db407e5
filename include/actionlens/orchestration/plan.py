"""Which videos a DAG run takes and how they are cut into the mapped steps' batches.

Every `plan*` task of every DAG ends in `batch_arguments`; the ids a run was started for
come from `ids_from_events` (or, in `second_opinions`, from `requested_ids`). Pure
functions: no Airflow import, so the tests call them directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actionlens.records import videos_argument


def ids_from_events(events: object) -> list[str]:
    """Video ids in `extra["video_ids"]` of Airflow's triggering asset events, in order.

    `events` is Airflow's `triggering_asset_events` (asset → list of events) or a plain
    list of events; anything without ids is ignored.
    """
    groups = events.values() if hasattr(events, "values") else [events or []]
    found: list[str] = []
    for group in groups:
        for event in group or []:
            extra = event.get("extra") if isinstance(event, dict) else getattr(event, "extra", None)
            for vid in (extra or {}).get("video_ids") or []:
                if isinstance(vid, str) and vid not in found:
                    found.append(vid)
    return found


def requested_ids(params: dict | None, events: Any) -> list[str] | str:
    """Ids announced by the triggering asset events, else the `video_ids` param (a list,
    a comma-separated string, or "all" for every annotated video)."""
    found = ids_from_events(events or {})
    if found:
        return found
    value = (params or {}).get("video_ids", "all")
    if isinstance(value, str):
        return (
            "all"
            if value.strip().lower() in ("", "all")
            else [v.strip() for v in value.split(",") if v.strip()]
        )
    return [str(v) for v in value]


def batch_arguments(
    ids: Iterable[str], size: int, *, all_when_empty: bool = False
) -> list[list[str]]:
    """One step argument list (`["--videos=a,b"]`) per batch of at most `size` ids, order
    kept, duplicates dropped. No ids: no batch, or with `all_when_empty` one batch without
    `--videos` (the step then takes every video)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"batch size {size!r} must be a positive integer")
    unique = list(dict.fromkeys(ids))
    if not unique:
        return [[]] if all_when_empty else []
    return [[videos_argument(unique[i : i + size])] for i in range(0, len(unique), size)]
