"""`dag.test()` of howto100m_acquire end to end: loopback source, real mongod, local
bucket, subprocess steps, and the stored-clips asset event carrying the new ids."""

from __future__ import annotations

import pytest

from actionlens.serve import StaticServer
from actionlens.store.mongo import VIDEOS, connect
from actionlens.testing.media import make_source

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture
def night(tmp_path, ffmpeg, airflow_db, dag_env):
    src = make_source(
        tmp_path / "source", ffmpeg=ffmpeg, n_videos=3, seconds=3.0, extra_manifest_ids=1
    )
    with StaticServer(src.videos_dir) as server:
        settings, _ = dag_env(
            ACTIONLENS_ACQUIRE__MANIFEST=str(src.manifest),
            ACTIONLENS_ACQUIRE__TASK_IDS=str(src.task_ids),
            ACTIONLENS_ACQUIRE__TRANSCRIPTS=str(src.transcripts),
            ACTIONLENS_ACQUIRE__URL_TEMPLATE=server.url + "/{video_id}.mp4",
            ACTIONLENS_ACQUIRE__BATCH_SIZE="2",
        )
        yield src, server, settings


def _asset_events(dag_run):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra, AssetModel.name)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == dag_run.run_id)
        ).all()
    return [(name, extra) for extra, name in rows]


def test_nightly_run_acquires_records_and_announces(night):
    from airflow.dag_processing.dagbag import DagBag

    src, server, settings = night
    dag = DagBag(dag_folder="dags/howto100m_acquire.py").dags["howto100m_acquire"]
    run = dag.test()
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances() if ti.task_id != "acquire"}
    assert states == {"plan": "success", "publish": "success"}
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "acquire"]
    assert len(mapped) == 2  # 4 ids in batches of 2: mapped per batch, not per video

    videos = connect(settings)[VIDEOS]
    docs = {d["_id"]: d for d in videos.find()}
    assert {v: docs[v]["state"] for v in src.ids} == {v: "stored" for v in src.ids}
    assert sum(d["state"] == "unavailable" for d in docs.values()) == 1
    assert all(docs[v]["transcript"]["segments"] for v in src.ids)

    [(name, extra)] = _asset_events(run)
    assert name == "actionlens_stored_clips"
    assert sorted(extra["video_ids"]) == sorted(src.ids)

    # The same night again: nothing is selected, fetched or announced.
    hits = dict(server.hits)
    rerun = dag.test()
    assert rerun.state == "success"
    assert dict(server.hits) == hits
    assert _asset_events(rerun) == []
    assert videos.count_documents({}) == 4
