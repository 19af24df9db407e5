"""
### HowTo100M acquisition (nightly)

Picks tonight's HowTo100M videos (new ids from the manifest, plus failed ones whose
backoff has expired), downloads the first 90 s of each at ≤480p, normalises them to
H.264 MP4, stores them at `clips/<video_id>.mp4` and records every outcome in the MongoDB
`videos` ledger. Emits the `actionlens_stored_clips` asset with the new ids, which
schedules `tree_of_captions`.

**When it fails.** A video that fails never fails the run: look at its ledger document
(`last_error`, `attempts`, `next_attempt_at`). A failed `acquire` task means the batch
itself broke (pod or mongod unreachable); clearing it is safe, the batch resumes where
the ledger says. `unavailable` videos (private, removed, 404, not a video) are final.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from actionlens.orchestration.assets import STORED_CLIPS, announce
from actionlens.orchestration.defaults import BASE_TAGS, DEFAULT_ARGS
from actionlens.orchestration.runner import heavy_step


@dag(
    dag_id="howto100m_acquire",
    schedule="0 1 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*BASE_TAGS, "acquire"],
    doc_md=__doc__,
    params={
        "budget": Param(None, type=["null", "integer"], minimum=0, description="videos tonight")
    },
)
def howto100m_acquire():
    @task
    def plan(params=None) -> list[list[str]]:
        """Select and register tonight's ids; one argument list per batch."""
        from actionlens.acquire.run import plan as plan_night
        from actionlens.orchestration.plan import batch_arguments
        from actionlens.settings import get_settings

        s = get_settings()
        night = plan_night(s, budget=(params or {}).get("budget"))
        return batch_arguments([v for b in night.batches for v in b], s.acquire.batch_size)

    batches = plan()
    acquire = heavy_step("acquire", task_id="acquire").expand(arguments=batches)
    publish = announce(STORED_CLIPS, "stored", task_id="publish")(acquire.output)
    batches >> acquire >> publish


howto100m_acquire()
