"""tree_of_captions end to end on the embedded default: segment → caption → aggregate →
the annotations asset, with the CPU baselines (a local `dag.test()` run)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_local_run_captions_and_annotates_the_new_trees(
    tmp_path, ffmpeg, airflow_db, dag_env, store_clip
):
    from airflow.dag_processing.dagbag import DagBag

    from actionlens.store.mongo import NODES, VIDEOS
    from actionlens.testing.media import Scene, render_clip

    settings, db = dag_env()
    vid = "dagcapt0001"
    scenes = [Scene(3.0, (200, 40, 40)), Scene(3.0, (40, 70, 200)), Scene(3.0, (40, 160, 60))]
    clip = render_clip(tmp_path / "c.mp4", scenes, ffmpeg=ffmpeg, size=(64, 48))
    transcript = [{"start": 0.0, "end": 9.0, "text": "today we paint a fence."}]
    store_clip(settings, db, vid, clip, transcript)
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
