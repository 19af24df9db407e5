"""Which videos a run of the agreement DAG scores, in batches of step arguments."""

from __future__ import annotations

from actionlens.records import videos_argument
from actionlens.settings import Settings


def ids_from_events(events: object) -> list[str]:
    """Video ids in `extra["video_ids"]` of Airflow's triggering asset events, in order."""
    groups = events.values() if hasattr(events, "values") else [events or []]
    found: list[str] = []
    for group in groups:
        for event in group or []:
            extra = event.get("extra") if isinstance(event, dict) else getattr(event, "extra", None)
            for vid in (extra or {}).get("video_ids") or []:
                if isinstance(vid, str) and vid not in found:
                    found.append(vid)
    return found


def batch_arguments(settings: Settings, events: object = None) -> list[list[str]]:
    """`--videos` argument lists per batch; `[[]]` (every video) when no ids were announced."""
    ids = ids_from_events(events or {})
    if not ids:
        return [[]]
    step = settings.agreement.videos_per_batch
    return [[videos_argument(ids[i : i + step])] for i in range(0, len(ids), step)]
