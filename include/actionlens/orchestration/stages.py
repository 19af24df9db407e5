"""Stages 2 and 3 as DAG tasks: `caption` then `aggregate`, each mapped over batches of
videos, then `publish_annotations`, which emits the annotations Asset with the ids.

Called inside a @dag function after the step that knows which videos have a tree:

    caption_and_aggregate(trees)  # trees: XComArg of {"segmented": [ids], ...}
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from actionlens.orchestration.assets import ANNOTATIONS
from actionlens.orchestration.runner import heavy_step
from actionlens.settings import ModelSpec, Settings, get_settings

# Backends that need no accelerator in their own pod (they call out or read no pixels).
CPU_BACKENDS = {"transcript", "extractive", "openai"}


def needs_gpu(spec: ModelSpec) -> bool:
    return spec.backend not in CPU_BACKENDS


def caption_and_aggregate(trees: Any, *, settings: Settings | None = None) -> Any:
    """Wire caption → aggregate → publish_annotations after `trees`; returns the last task."""
    settings = settings or get_settings()
    models = settings.models

    @task
    def plan_captions(summary: dict | None) -> list[list[str]]:
        """Videos with a current tree, in batches (`models.batch_videos`)."""
        from actionlens.caption.run import batch_arguments
        from actionlens.settings import get_settings

        ids = (summary or {}).get("segmented") or []
        return batch_arguments(ids, get_settings().models.batch_videos)

    captions = heavy_step(
        "caption", task_id="caption", gpu=needs_gpu(models.captioner), settings=settings
    ).expand(arguments=plan_captions(trees))

    @task(trigger_rule="all_done")
    def plan_aggregate(reports) -> list[list[str]]:
        """Videos whose captions are in place, in batches."""
        from actionlens.caption.run import batch_arguments
        from actionlens.runtime import merge_reports
        from actionlens.settings import get_settings

        merged = merge_reports(list(reports or []), "captioned")
        return batch_arguments(merged["captioned"], get_settings().models.batch_videos)

    annotated = heavy_step(
        "aggregate", task_id="aggregate", gpu=needs_gpu(models.aggregator), settings=settings
    ).expand(arguments=plan_aggregate(captions.output))

    @task(outlets=[ANNOTATIONS], trigger_rule="all_done")
    def publish_annotations(reports, *, outlet_events=None) -> dict:
        """Announce the annotated videos (skipped when there are none)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from actionlens.runtime import merge_reports

        summary = merge_reports(
            list(reports or []), "annotated", sums=("asked", "invalid", "errors")
        )
        if not summary["annotated"]:
            raise AirflowSkipException(f"no video annotated: {summary['counts']}")
        outlet_events[ANNOTATIONS].extra = {"video_ids": summary["annotated"]}
        return summary

    return publish_annotations(annotated.output)
