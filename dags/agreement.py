"""
### Agreement and confidence (on new annotations or opinions)

Runs whenever annotations (`actionlens_annotations`) or second opinions
(`actionlens_opinions`) are announced.

1. **plan** takes the video ids carried by the triggering asset events (a manual run
   without events takes every video with nodes) and cuts them into batches.
2. **score** (mapped) compares every configured pair of sources per node and field
   (lexical: normalized Levenshtein; semantic: sentence-embedding cosine) and the
   segmentations of each video; rows go to MongoDB `scores` / `temporal_scores`,
   replacing the videos' previous rows.
3. **load** (mapped) copies ledger, nodes, scores and lens facts into the warehouse raw
   tables, one transaction per batch; **load_neighbours** then swaps the whole
   nearest-neighbour table (lists change for every video when new ones arrive).
4. **dbt_build** (Cosmos) builds staging → intermediate → marts with their data and unit
   tests: `fct_node_agreement`, `fct_video_confidence` (the workshop tags),
   `fct_node_confidence` (their extension per node), `fct_daily_confidence_trend`,
   `dim_videos`, `fct_video_neighbours`.
5. **publish_fiftyone** writes one FiftyOne video sample per video (temporal detections
   per source and field, root agreement and tags).

**When it fails.** Every step is idempotent per video: clearing a failed task is safe.
A failed dbt test names the model and rule; look at the warehouse rows of the videos of
this run before clearing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from actionlens.orchestration.assets import ANNOTATIONS, OPINIONS
from actionlens.orchestration.dbt import confidence_task_group
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.runner import heavy_step


@dag(
    dag_id="agreement",
    schedule=(ANNOTATIONS | OPINIONS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*BASE_TAGS, "agreement", "warehouse"],
    doc_md=__doc__,
)
def agreement():
    @task
    def plan(triggering_asset_events=None) -> list[list[str]]:
        """Announced ids in batches; one empty argument list (all videos) without events."""
        from actionlens.agreement.plan import batch_arguments
        from actionlens.settings import get_settings

        return batch_arguments(get_settings(), triggering_asset_events)

    batches = plan()
    score = heavy_step("score-agreement", task_id="score").expand(arguments=batches)
    load = heavy_step("load-warehouse", task_id="load").expand(arguments=batches)
    neighbours = heavy_step("load-neighbours", task_id="load_neighbours").expand(arguments=[[]])
    build = confidence_task_group("dbt_build")
    publish = heavy_step("publish-fiftyone", task_id="publish_fiftyone").expand(arguments=batches)
    score >> load >> neighbours >> build >> publish


agreement()
