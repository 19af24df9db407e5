"""
### Second opinions and embedding lenses (on new annotations, or by hand)

Runs whenever `tree_of_captions` announces annotations (`actionlens_annotations`), or
manually: the `video_ids` param takes a list of ids, or "all" for every video with an
annotated node (e.g. videos that only have imported Action100M reference annotations).

1. **plan** keeps the requested videos that have annotated nodes, in batches
   (`opinions.batch_videos`).
2. **opinions** (mapped; a GPU pod when a model runs in-process) shows every annotated
   node, at every tier, to each configured opinion model (`opinions.sources`: Qwen3-VL,
   Molmo2, or the CPU baselines) as 32 frames of its span at 320x320; answers are
   parsed and repaired like stage 3 and stored as `nodes.annotations.<source>`.
3. **lenses** (mapped) embeds every video per lens (`opinions.lenses`) into MongoDB
   `lenses`, with the zero-shot category on the category lens.
4. **neighbours** finds each video's k nearest neighbours per lens (`neighbours`) and how
   many two lenses share (`neighbour_overlap`).
5. **publish_opinions** emits `actionlens_opinions` with the ids, which runs `agreement`.

**When it fails.** One video never fails its batch: `videos.stages.opinions.<source>` and
`lenses.error` say why. Answers still invalid after the repair turn keep their raw text in
`annotations.<source>.raw`. Everything is keyed by model and prompt version: clearing a
failed task redoes only stale nodes and videos.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from actionlens.orchestration.assets import ANNOTATIONS, OPINIONS, announce, opinions_announcement
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.runner import heavy_step


@dag(
    dag_id="second_opinions",
    schedule=[ANNOTATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*BASE_TAGS, "opinions", "lenses"],
    params={
        "video_ids": Param(
            "all",
            type=["string", "array"],
            description='video ids (a list or "a,b,c") or "all" for every annotated video; '
            "ignored when the run was triggered by annotation events",
        )
    },
    doc_md=__doc__,
)
def second_opinions():
    @task
    def plan(params=None, triggering_asset_events=None) -> list[list[str]]:
        """Requested videos that have annotated nodes, in batches (`opinions.batch_videos`)."""
        from actionlens.orchestration.plan import batch_arguments, requested_ids
        from actionlens.settings import get_settings
        from actionlens.store.mongo import connect
        from actionlens.tree import annotated_video_ids

        s = get_settings()
        annotated = annotated_video_ids(connect(s), {o.source for o in s.opinions.sources})
        wanted = requested_ids(params, triggering_asset_events)
        ids = annotated if wanted == "all" else [v for v in wanted if v in set(annotated)]
        print(f"plan: {len(ids)} annotated videos requested ({len(annotated)} annotated in all)")
        return batch_arguments(ids, s.opinions.batch_videos)

    @task(trigger_rule="all_done")
    def plan_neighbours(reports) -> list[list[str]]:
        """One neighbour search over every stored vector (after this run's lenses)."""
        from actionlens.orchestration.plan import batch_arguments

        return batch_arguments([], 1, all_when_empty=True)

    batches = plan()
    opinions = heavy_step("opinions", task_id="opinions").expand(arguments=batches)
    lenses = heavy_step("lenses", task_id="lenses").expand(arguments=batches)
    after_lenses = plan_neighbours(lenses.output)
    neighbours = heavy_step("neighbours", task_id="neighbours").expand(arguments=after_lenses)
    # Announces the videos of every finished batch, not only those with new opinions.
    publish = announce(
        OPINIONS,
        "opined",
        task_id="publish_opinions",
        sums=("asked", "invalid", "errors"),
        parts="sources",
        extra=opinions_announcement,
    )(opinions.output)
    batches >> [opinions, lenses]
    lenses >> after_lenses >> neighbours >> publish
    opinions >> publish


second_opinions()
