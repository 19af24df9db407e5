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
from airflow.sdk import Param, dag

from actionlens.orchestration.assets import ANNOTATIONS
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.opinions import second_opinions_tasks


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
    second_opinions_tasks()


second_opinions()
