"""
### Tree of Captions (on new stored clips)

Runs whenever `howto100m_acquire` announces new clips (`actionlens_stored_clips`).

1. **plan_segment** takes the ids carried by the triggering asset events, plus stored
   videos that still have no segment tree (or a retryable failure), and cuts them into
   batches (`segment.batch_videos` each).
2. **segment** (mapped over batches; a pod in `kubernetes` mode, a GPU pod with V-JEPA 2;
   a subprocess in `local` mode) decodes every 4th frame, embeds the frames
   (`segment.backend`: V-JEPA 2, or the `pixels` CPU baseline), clusters them with
   chain-constrained Ward linkage and writes the Action100M tree to MongoDB `nodes`.
3. **segmented** gathers the ids that now have a tree, for the caption steps.
4. **caption** (mapped over batches of `models.batch_videos`; a GPU pod when the
   captioner runs in-process) captions every node: 32 frames at 320x320 per node, the
   middle frame of leaves (`models.captioner`; the `transcript` CPU baseline by default).
5. **aggregate** (mapped likewise) annotates non-leaf nodes of >= 4 s with Self-Refine
   (`models.aggregator`: an OpenAI-compatible endpoint, Qwen3-VL in-process, or the
   `extractive` baseline) into `nodes.annotations.ours`.
6. **publish_annotations** emits `actionlens_annotations` with the annotated ids.

**When it fails.** A video that fails never fails its batch: its ledger document says why
(`stages.segment.error`); a clip without a video stream is final, other failures are
retried by the next run (up to `segment.max_attempts`). A failed `segment` task means the
batch itself broke (pod, weights or mongod): clearing it is safe, trees are replaced,
never duplicated. Captions and annotations are keyed by model and prompt version: a
cleared `caption` or `aggregate` task redoes only nodes that are stale or got no answer;
nodes whose answer stayed invalid keep the raw text in `annotations.ours.raw`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from actionlens.orchestration.assets import ANNOTATIONS, STORED_CLIPS, announce
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.runner import heavy_step


@dag(
    dag_id="tree_of_captions",
    schedule=[STORED_CLIPS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*BASE_TAGS, "segment", "captions"],
    doc_md=__doc__,
)
def tree_of_captions():
    @task
    def plan_segment(triggering_asset_events=None) -> list[list[str]]:
        """Announced ids plus the unsegmented backlog; one argument list per batch."""
        from actionlens.orchestration.plan import batch_arguments, ids_from_events
        from actionlens.segment.run import plan_batches
        from actionlens.settings import get_settings

        s = get_settings()
        planned = plan_batches(s, ids_from_events(triggering_asset_events or {}))
        return batch_arguments([v for b in planned for v in b], s.segment.batch_videos)

    @task(trigger_rule="all_done")
    def segmented(reports) -> dict:
        """Ids that now have a tree (and counts by outcome), for the caption steps."""
        from actionlens.runtime import merge_reports

        return merge_reports(list(reports or []), "segmented")

    @task
    def plan_captions(summary: dict | None) -> list[list[str]]:
        """Videos with a current tree, in batches (`models.batch_videos`)."""
        from actionlens.orchestration.plan import batch_arguments
        from actionlens.settings import get_settings

        ids = (summary or {}).get("segmented") or []
        return batch_arguments(ids, get_settings().models.batch_videos)

    @task(trigger_rule="all_done")
    def plan_aggregate(reports) -> list[list[str]]:
        """Videos whose captions are in place, in batches."""
        from actionlens.orchestration.plan import batch_arguments
        from actionlens.runtime import merge_reports
        from actionlens.settings import get_settings

        merged = merge_reports(list(reports or []), "captioned")
        return batch_arguments(merged["captioned"], get_settings().models.batch_videos)

    planned = plan_segment()
    segment = heavy_step("segment", task_id="segment").expand(arguments=planned)
    trees = segmented(segment.output)
    to_caption = plan_captions(trees)
    caption = heavy_step("caption", task_id="caption").expand(arguments=to_caption)
    to_aggregate = plan_aggregate(caption.output)
    aggregate = heavy_step("aggregate", task_id="aggregate").expand(arguments=to_aggregate)
    publish = announce(
        ANNOTATIONS, "annotated", task_id="publish_annotations", sums=("asked", "invalid", "errors")
    )(aggregate.output)
    planned >> segment >> trees >> to_caption >> caption >> to_aggregate >> aggregate >> publish


tree_of_captions()
