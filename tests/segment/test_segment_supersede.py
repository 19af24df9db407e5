"""Re-segmenting after a segmenter setting changes (issue 12, item 8): one tree per video
and segmenter source is current. The old tree of ours, with its annotations and scores,
stays retrievable under its version but is never counted: MongoDB's current nodes are the
new tree (beside the imported reference tree), and the marts count the current trees'
nodes and scores only."""

from __future__ import annotations

import random

import pytest

from actionlens.agreement.score import score_videos
from actionlens.reference.action100m import SEGMENTER as REFERENCE
from actionlens.reference.action100m import import_files
from actionlens.segment.run import Segmenter
from actionlens.store.mongo import NODES, SCORES, VIDEOS
from actionlens.testing.action100m import annotation, make_record, opinion, write_parquet
from actionlens.testing.media import Scene, render_clip
from actionlens.testing.stores import duckdb_rows
from actionlens.tree import CURRENT
from actionlens.warehouse.dbt import run_dbt
from actionlens.warehouse.load import load_videos
from test_agreement_scores import fake_embedder

pytestmark = pytest.mark.integration

VID = "resegment01"
SCENES = [Scene(2.0, (200, 40, 40)), Scene(2.0, (40, 160, 60)), Scene(2.0, (40, 70, 200))]


def _annotate(db, segmenter: str, seed: int) -> int:
    """A reference (`gpt`) and an opinion (`qwen3vl`) on every node of one tree, as the
    annotation stages leave them; returns how many nodes."""
    rng = random.Random(seed)
    n = 0
    for node in db[NODES].find({"video_id": VID, "segmenter": segmenter}):
        ref = annotation(rng)
        fields = {"annotations.gpt": ref, "annotations.qwen3vl": opinion(ref, rng, True)}
        db[NODES].update_one({"_id": node["_id"]}, {"$set": fields})
        n += 1
    return n


def _night(settings, db):
    """Segment, annotate the new tree, score and load, as a night does."""
    segmenter = Segmenter(settings, db=db)
    report = segmenter.run([VID])
    assert [v.outcome for v in report.videos] == ["done"], report.videos
    _annotate(db, segmenter.version, seed=len(segmenter.version))
    score_videos(settings, [VID], embedder=fake_embedder())
    load_videos(settings, [VID])
    return segmenter.version


def test_a_changed_setting_supersedes_the_old_tree_everywhere(
    settings, db, tmp_path, ffmpeg, store_clip
):
    clip = render_clip(tmp_path / "c.mp4", SCENES, ffmpeg=ffmpeg, size=(128, 96))
    store_clip(settings, db, VID, clip)
    import_files(
        settings, [str(write_parquet([make_record(VID, duration=6.0)], tmp_path / "a.parquet"))]
    )
    reference = {n["_id"] for n in db[NODES].find({"video_id": VID, "segmenter": REFERENCE})}
    assert reference

    old = _night(settings, db)
    old_nodes = {n["_id"] for n in db[NODES].find({"video_id": VID, "segmenter": old})}
    old_scores = db[SCORES].count_documents({"video_id": VID, "segmenter": old})
    assert old_scores > 0

    changed = settings.model_copy(
        update={"segment": settings.segment.model_copy(update={"min_leaf_seconds": 1.5})}
    )
    new = _night(changed, db)
    assert new != old
    new_nodes = {n["_id"] for n in db[NODES].find({"video_id": VID, "segmenter": new})}

    # MongoDB: the current nodes are the new tree and the reference's, nothing else.
    current = {n["_id"] for n in db[NODES].find({"video_id": VID, **CURRENT})}
    assert current == new_nodes | reference
    # The old tree is kept for audit, with its annotations, flagged and dated.
    kept = list(db[NODES].find({"video_id": VID, "segmenter": old}))
    assert {n["_id"] for n in kept} == old_nodes
    assert all(n["current"] is False and n["superseded_by"] == new for n in kept)
    assert all(n["annotations"]["gpt"] for n in kept)
    # Its score rows too: still in MongoDB under its version, flagged, not rescored away.
    assert db[SCORES].count_documents({"video_id": VID, "segmenter": old}) == old_scores
    assert db[SCORES].count_documents({"segmenter": old, "current": {"$ne": False}}) == 0
    live_scores = db[SCORES].count_documents({"video_id": VID, **CURRENT})
    assert live_scores == db[SCORES].count_documents({"segmenter": {"$in": [new, REFERENCE]}})
    # The ledger names the new version: later stages work on the new tree.
    assert db[VIDEOS].find_one({"_id": VID})["stages"]["segment"]["version"] == new

    # The warehouse keeps every row (audit) and flags them...
    raw = duckdb_rows(settings, "select is_current, count(*) from raw.raw_nodes group by 1")
    assert dict(raw) == {True: len(new_nodes | reference), False: len(old_nodes)}
    # ...and the marts count the current trees only.
    run_dbt(settings, ["run"], target_path=tmp_path / "target")
    nodes = duckdb_rows(
        settings, "select segmenter, count(*) from analytics.stg_actionlens__nodes group by 1"
    )
    assert dict(nodes) == {new: len(new_nodes), REFERENCE: len(reference)}
    facts = duckdb_rows(
        settings, "select segmenter, count(*) from analytics.fct_node_agreement group by 1"
    )
    assert dict(facts) == {new: live_scores}  # the reference has no opinions here to score
    assert live_scores == db[SCORES].count_documents({"segmenter": new}) > 0

    # The old tree stays retrievable by its version.
    from actionlens.tree import load_tree

    assert set(load_tree(db, VID, old).by_id) == old_nodes
