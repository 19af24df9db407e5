"""Second opinions as DAG tasks: plan → opinions and lenses (mapped over batches) →
neighbours → publish_opinions, which emits the opinions Asset with the video ids."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from actionlens.orchestration.assets import OPINIONS
from actionlens.orchestration.runner import heavy_step
from actionlens.settings import Settings, get_settings

# Backends that need no accelerator in their own pod (they call out or read no weights).
CPU_OPINION_BACKENDS = {"openai", "opinion-frames", "opinion-transcript"}
CPU_LENS_BACKENDS = {"sentence", "frame-histogram", "frame-motion"}


def opinions_need_gpu(settings: Settings) -> bool:
    return any(s.backend not in CPU_OPINION_BACKENDS for s in settings.opinions.sources)


def lenses_need_gpu(settings: Settings) -> bool:
    return any(s.backend not in CPU_LENS_BACKENDS for s in settings.opinions.lenses)


def requested_ids(params: dict | None, events: Any) -> list[str] | str:
    """Ids announced by the triggering asset events, else the `video_ids` param (a list,
    a comma-separated string, or "all" for every annotated video)."""
    from actionlens.agreement.plan import ids_from_events

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


def opinions_announcement(reports: list[dict | None]) -> dict[str, list[str]]:
    """The `actionlens_opinions` event's extra for a run's opinion batch reports: every
    video of a batch that finished — with its opinions, with some failed (retried on a
    later night) or with none to ask for (skipped) — so `agreement` scores each of the
    night's videos once, after its opinions exist. A batch that died announces nobody."""
    from actionlens.runtime import merge_reports

    summary = merge_reports(reports, "opined", parts="sources")
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


def second_opinions_tasks(*, settings: Settings | None = None) -> Any:
    """Wire the whole stage inside a @dag function; returns the publishing task."""
    settings = settings or get_settings()

    @task
    def plan(params=None, triggering_asset_events=None) -> list[list[str]]:
        """Requested videos that have annotated nodes, in batches (`opinions.batch_videos`)."""
        from actionlens.caption.run import batch_arguments
        from actionlens.settings import get_settings
        from actionlens.store.mongo import connect
        from actionlens.tree import annotated_video_ids

        s = get_settings()
        annotated = annotated_video_ids(connect(s), {o.source for o in s.opinions.sources})
        wanted = requested_ids(params, triggering_asset_events)
        ids = annotated if wanted == "all" else [v for v in wanted if v in set(annotated)]
        print(f"plan: {len(ids)} annotated videos requested ({len(annotated)} annotated in all)")
        return batch_arguments(ids, s.opinions.batch_videos)

    batches = plan()
    opinions = heavy_step(
        "opinions", task_id="opinions", gpu=opinions_need_gpu(settings), settings=settings
    ).expand(arguments=batches)
    lenses = heavy_step(
        "lenses", task_id="lenses", gpu=lenses_need_gpu(settings), settings=settings
    ).expand(arguments=batches)

    @task(trigger_rule="all_done")
    def plan_neighbours(reports) -> list[list[str]]:
        """One neighbour search over every stored vector (after this run's lenses)."""
        return [[]]

    neighbours = heavy_step("neighbours", task_id="neighbours", settings=settings).expand(
        arguments=plan_neighbours(lenses.output)
    )

    @task(outlets=[OPINIONS], trigger_rule="all_done")
    def publish_opinions(reports, *, outlet_events=None) -> dict:
        """Announce this night's videos once their opinions are stored: `video_ids` are
        those with new or current opinions plus those whose opinions failed or that had
        none to ask for (`agreement` scores them once, with the pairs that exist). Videos
        of a batch that died are not announced: clearing it announces them. Skipped when
        no batch finished."""
        from airflow.sdk.exceptions import AirflowSkipException

        from actionlens.runtime import merge_reports

        summary = merge_reports(
            list(reports or []), "opined", sums=("asked", "invalid", "errors"), parts="sources"
        )
        extra = opinions_announcement(list(reports or []))
        if not extra["video_ids"]:
            raise AirflowSkipException(f"no video finished its opinions: {summary['counts']}")
        outlet_events[OPINIONS].extra = extra
        return summary | extra

    published = publish_opinions(opinions.output)
    neighbours >> published
    return published
