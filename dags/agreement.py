"""
### Agreement and confidence (once per night's batch, after its second opinions)

**Started by** each `actionlens_opinions` event, which `second_opinions` emits once per
run, after its opinions (and lenses and neighbours) are stored. Its ids are the videos
that got their opinions plus those whose opinions failed (they will get none this
night): every video annotated that night is scored once, with every pair that can exist.
Annotation events (`actionlens_annotations`) do not start it: they start
`second_opinions`, so scoring then would compare half the pairs and change the tags an
hour later. A manual run without events scores every video with nodes (e.g. imported
Action100M references that no DAG announces).

1. **plan** takes the video ids carried by the triggering asset events (a manual run
   without events takes every video with nodes) and cuts them into batches.
2. **score** (mapped) compares every configured pair of sources per node and field
   (lexical: normalized Levenshtein; semantic: sentence-embedding cosine) and the
   segmentations of each video; rows go to MongoDB `scores` / `temporal_scores`,
   replacing the videos' previous rows.
3. **load** (mapped) copies ledger, nodes, scores and lens facts into the warehouse raw
   tables, one transaction per batch; **load_neighbours** then swaps the whole
   nearest-neighbour table (lists change for every video when new ones arrive).
4. **dbt_build** builds staging → intermediate → marts with their data and unit tests:
   `fct_node_agreement`, `fct_video_confidence` (the workshop tags),
   `fct_node_confidence` (their extension per node), `fct_daily_confidence_trend`,
   `dim_videos`, `fct_video_neighbours`. On DuckDB it is one task (one `dbt build`, one
   parse) that then publishes the marts snapshot the Confidence page reads; on Postgres
   and BigQuery a Cosmos task group, one task per model, in parallel.
5. **publish_fiftyone** writes one FiftyOne video sample per video (temporal detections
   per source and field, root agreement and tags).
6. **brain_fiftyone**, once after the last publish batch (publishing replaces samples, so
   their ids change): the workshop's three lens vectors on the samples
   (`qwen_embeddings`, `molmo_embeddings`, `text_embeddings`, with which model filled
   each), UMAP / similarity brain runs per lens, uniqueness and representativeness on the
   visual lens, `predicted_class`, `text_predicted_class` and their evaluation.

With DuckDB every task that writes the warehouse (load, load_neighbours, dbt_build,
publish_fiftyone) runs in the `actionlens_warehouse` pool (one slot): DuckDB allows one
writing process per file. `python -m actionlens preflight --create-pool` creates it.

**When it fails.** Every step is idempotent per video: clearing a failed task is safe.
A failed dbt build names each model and rule that failed; the Confidence page keeps the
last good snapshot and says the build failed. Look at the warehouse rows of the videos
of this run before clearing. A warehouse "held by process N" error names the process
that holds the DuckDB file: let it finish or stop it, then clear.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from actionlens.orchestration.assets import OPINIONS
from actionlens.orchestration.dbt import warehouse_build
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.runner import heavy_step


@dag(
    dag_id="agreement",
    schedule=[OPINIONS],
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
        from actionlens.orchestration.plan import batch_arguments, ids_from_events
        from actionlens.settings import get_settings

        ids = ids_from_events(triggering_asset_events or {})
        size = get_settings().agreement.videos_per_batch
        return batch_arguments(ids, size, all_when_empty=True)

    batches = plan()
    score = heavy_step("score-agreement", task_id="score").expand(arguments=batches)
    load = heavy_step("load-warehouse", task_id="load", writes_warehouse=True).expand(
        arguments=batches
    )
    neighbours = heavy_step(
        "load-neighbours", task_id="load_neighbours", writes_warehouse=True
    ).expand(arguments=[[]])
    build = warehouse_build("dbt_build")
    publish = heavy_step(
        "publish-fiftyone", task_id="publish_fiftyone", writes_warehouse=True
    ).expand(arguments=batches)
    # Reads MongoDB and writes FiftyOne only: not in the warehouse pool.
    brain = heavy_step("brain-fiftyone", task_id="brain_fiftyone").expand(arguments=[[]])
    score >> load >> neighbours >> build >> publish >> brain


agreement()
