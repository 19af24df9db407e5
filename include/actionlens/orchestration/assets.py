"""The Assets that connect the DAGs, and `announce`, the one task that emits them: each
event's `extra` carries the ids of the videos that became ready (`video_ids`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import Asset, task

STORED_CLIPS = Asset(name="actionlens_stored_clips", uri="actionlens://videos/stored")
ANNOTATIONS = Asset(name="actionlens_annotations", uri="actionlens://nodes/annotations")
OPINIONS = Asset(name="actionlens_opinions", uri="actionlens://nodes/opinions")

# An event's extra from a run's batch reports and their merged summary.
Announcement = Callable[[list[dict | None], dict[str, Any]], dict[str, list[str]]]


def ready_ids(ready_key: str) -> Announcement:
    """The default extra: `video_ids`, the videos the merged reports say are ready."""

    def extra(reports: list[dict | None], summary: dict[str, Any]) -> dict[str, list[str]]:
        return {"video_ids": summary[ready_key]}

    return extra


def opinions_announcement(
    reports: list[dict | None], summary: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """The `actionlens_opinions` event's extra for a run's opinion batch reports: every
    video of a batch that finished — with its opinions, with some failed (retried on a
    later night) or with none to ask for (skipped) — so `agreement` scores each of the
    night's videos once, after its opinions exist. A batch that died announces nobody."""
    from actionlens.runtime import merge_reports

    summary = summary or merge_reports(reports, "opined", parts="sources")
    finished = {
        v["video_id"]
        for raw in reports
        if raw is not None
        for report in raw.get("sources") or []
        for v in report.get("videos") or []
    }
    opined, failed = set(summary["opined"]), set(summary["failed"])
    return {
        "video_ids": sorted(finished),
        "opinions_failed": sorted(failed),
        "without_opinions": sorted(finished - opined - failed),
    }


def announce(
    asset: Asset,
    ready_key: str,
    *,
    task_id: str,
    sums: Sequence[str] = (),
    parts: str | None = None,
    extra: Announcement | None = None,
):
    """A task that merges a run's batch reports (`runtime.merge_reports` with `ready_key`,
    `sums`, `parts`) and emits `asset` with `extra(reports, summary)` as the event's extra
    (default: `{"video_ids": <the ready ids>}`). It runs when every batch has finished,
    failed or not; a batch that died announces none of its videos (clearing it does). No
    video to announce: the task is skipped and no event is emitted."""
    make_extra = extra or ready_ids(ready_key)
    doc = f"Announce the videos {ready_key} in this run on `{asset.name}` (skipped if none)."

    @task(task_id=task_id, outlets=[asset], trigger_rule="all_done", doc_md=doc)
    def publish(reports, *, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from actionlens.runtime import merge_reports

        reports = list(reports or [])
        summary = merge_reports(reports, ready_key, sums=sums, parts=parts)
        event = make_extra(reports, summary)
        if not event["video_ids"]:
            raise AirflowSkipException(f"no video to announce on {asset.name}: {summary['counts']}")
        outlet_events[asset].extra = event
        return summary | event

    return publish
