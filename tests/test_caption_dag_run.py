"""tree_of_captions end to end on the embedded default: segment → caption → aggregate →
the annotations asset, with the CPU baselines (a local `dag.test()` run)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_local_run_captions_and_annotates_the_new_trees(
    tmp_path, mongod, ffmpeg, monkeypatch, airflow_db
):
    from airflow.dag_processing.dagbag import DagBag

    from actionlens.acquire.run import clip_key
    from actionlens.settings import get_settings
    from actionlens.store.mongo import NODES, VIDEOS, connect
    from actionlens.store.storage import open_bucket
    from actionlens.synthetic import Scene, render_clip

    env = {
        "ACTIONLENS_HOME": str(tmp_path / "home"),
        "ACTIONLENS_MONGO_URI": mongod,
        "ACTIONLENS_MONGO_DB": "dagtest_captions",
        "ACTIONLENS_BUCKET": str(tmp_path / "bucket"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    settings = get_settings()
    db = connect(settings)
    vid = "dagcapt0001"
    try:
        scenes = [Scene(3.0, (200, 40, 40)), Scene(3.0, (40, 70, 200)), Scene(3.0, (40, 160, 60))]
        clip = render_clip(tmp_path / "c.mp4", scenes, ffmpeg=ffmpeg, size=(64, 48))
        info = open_bucket(settings.bucket_uri()).upload(clip, clip_key(vid))
        db[VIDEOS].insert_one(
            {
                "_id": vid,
                "state": "stored",
                "clip": {"uri": info.uri},
                "updated_at": datetime.now(UTC),
                "transcript": {
                    "segments": [{"start": 0.0, "end": 9.0, "text": "today we paint a fence."}]
                },
            }
        )
        dag = DagBag(dag_folder="dags/tree_of_captions.py").dags["tree_of_captions"]
        run = dag.test()
        assert run.state == "success"
        stages = db[VIDEOS].find_one({"_id": vid})["stages"]
        assert stages["caption"]["state"] == "done" and stages["aggregate"]["state"] == "done"
        root = db[NODES].find_one({"video_id": vid, "parent_id": None})
        assert root["captions"]["transcript-baseline"]["video"]["text"] == "today we paint a fence."
        ours = root["annotations"]["ours"]
        assert ours["status"] == "ok" and ours["baseline"] is True and ours["rounds"] == 3
        assert ours["summary"]["brief"] == "today we paint a fence."
    finally:
        db.client.drop_database("dagtest_captions")
        get_settings.cache_clear()
