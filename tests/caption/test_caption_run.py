"""Stage 2 against MongoDB and a bucket: what is stored where, and reruns."""

from __future__ import annotations

import pytest

from actionlens.caption import run as caption_run
from actionlens.models import load_model, source_key
from actionlens.settings import ModelSpec
from actionlens.store.mongo import NODES, VIDEOS
from actionlens.testing.loopback import LoopbackServer, count_images
from actionlens.testing.media import Scene
from actionlens.testing.trees import small_tree

pytestmark = pytest.mark.integration  # mongod and/or HTTP on loopback

VID = "abcDEF12345"
TRANSCRIPT = [
    {"start": 0.0, "end": 5.0, "text": "crack the eggs"},
    {"start": 5.0, "end": 12.0, "text": "whisk them well"},
]


@pytest.fixture
def stored(settings, db, silent_clip, store_clip):
    clip = silent_clip(
        [Scene(5.0, (200, 40, 40)), Scene(7.0, (40, 70, 200))], fps=8, size=(128, 96)
    )
    store_clip(settings, db, VID, clip, TRANSCRIPT)
    db[NODES].insert_many(small_tree(VID))
    return db


def test_baseline_captions_every_node_from_the_transcript(settings, stored):
    report = caption_run.caption_batch(settings, [VID]).as_dict()
    assert report["captioned"] == [VID] and report["baseline"] is True
    key = source_key(settings.models.captioner.model_id)
    nodes = {(n["start"], n["end"]): n for n in stored[NODES].find()}
    root = nodes[(0.0, 12.0)]["captions"][key]
    assert root["baseline"] is True and root["prompt_version"] == caption_run.PROMPT_VERSION
    assert root["video"]["text"] == "crack the eggs whisk them well" and "frame" not in root
    leaf = nodes[(0.0, 5.0)]["captions"][key]
    assert leaf["frame"]["text"] == "crack the eggs" and leaf["frame"]["time"] == 2.5
    stage = stored[VIDEOS].find_one({"_id": VID})["stages"]["caption"]
    assert stage["state"] == "done" and stage["captioned"] == 7


def test_endpoint_model_gets_32_frames_per_node_and_the_middle_frame_of_leaves(settings, stored):
    with LoopbackServer(lambda body: f"caption {count_images(body)}") as srv:
        settings.models.endpoint = srv.url
        settings.models.captioner = ModelSpec(
            backend="openai", model_id="Qwen/Qwen3-VL-4B-Instruct"
        )
        model = load_model(settings.models.captioner, settings.models)
        result = caption_run.Captioner(settings, model, db=stored).one(VID)
        assert srv.problems == []
        assert sorted(count_images(b) for b in srv.requests) == [1] * 4 + [32] * 7
        assert all(b["max_tokens"] == 1024 for b in srv.requests)
    assert result.outcome == "done" and result.captioned == 7
    key = source_key("Qwen/Qwen3-VL-4B-Instruct")
    assert "." not in key
    leaf = stored[NODES].find_one({"start": 8.0, "end": 12.0})["captions"][key]
    assert leaf["video"]["text"] == "caption 32" and leaf["frame"]["text"] == "caption 1"
    assert leaf["video"]["usage"]["completion_tokens"] == 2


def test_rerun_captions_only_stale_nodes(settings, stored, monkeypatch):
    model = load_model(settings.models.captioner, settings.models)
    captioner = caption_run.Captioner(settings, model, db=stored)
    assert captioner.one(VID).captioned == 7
    assert captioner.one(VID).outcome == "up_to_date"
    key = source_key(model.model_id)
    stored[NODES].update_one({"start": 5.0, "end": 6.5}, {"$unset": {f"captions.{key}": 1}})
    assert captioner.one(VID).captioned == 1
    monkeypatch.setattr(caption_run, "PROMPT_VERSION", "caption-v2")
    assert captioner.one(VID).captioned == 7


def test_a_video_without_a_tree_fails_alone(settings, stored):
    report = caption_run.caption_batch(settings, ["zzzzzzzzzzz", VID]).as_dict()
    assert report["failed"] == ["zzzzzzzzzzz"] and report["captioned"] == [VID]
    assert "segment" in report["videos"][0]["error"]


def test_tiny_qwen3vl_captions_the_tree_from_decoded_frames(settings, stored, tmp_path):
    from actionlens.testing.tiny import save_tiny_qwen3vl

    weights = save_tiny_qwen3vl(tmp_path / "tiny-qwen3-vl")
    settings.models.device = "cpu"
    settings.models.captioner = ModelSpec(
        backend="transformers", model_id="tiny/qwen3-vl", weights=str(weights), max_new_tokens=4
    )
    report = caption_run.caption_batch(settings, [VID]).as_dict()
    assert report["captioned"] == [VID] and report["baseline"] is False
    leaf = stored[NODES].find_one({"start": 8.0, "end": 12.0})["captions"]["tiny__qwen3-vl"]
    assert leaf["status"] == "ok" and leaf["backend"] == "transformers"
    assert (
        isinstance(leaf["video"]["text"], str)
        and 1 <= leaf["video"]["usage"]["completion_tokens"] <= 4
    )
    assert leaf["frame"]["usage"]["prompt_tokens"] > 0


def test_tiny_molmo2_through_transformers_auto_captions_the_tree(settings, stored, tmp_path):
    """Molmo2 as the captioner: `transformers-auto` is known without importing opinions."""
    from actionlens.testing.tiny_molmo2 import save_tiny_molmo2

    weights = save_tiny_molmo2(tmp_path / "tiny-molmo2")
    settings.models.device = "cpu"
    settings.models.captioner = ModelSpec(
        backend="transformers-auto", model_id="tiny/molmo2", weights=str(weights), max_new_tokens=4
    )
    report = caption_run.caption_batch(settings, [VID]).as_dict()
    assert report["captioned"] == [VID] and report["baseline"] is False
    leaf = stored[NODES].find_one({"start": 8.0, "end": 12.0})["captions"]["tiny__molmo2"]
    assert leaf["status"] == "ok" and leaf["backend"] == "transformers-auto"
    assert leaf["video"]["usage"]["prompt_tokens"] > 32  # the frames became vision tokens


def test_several_frame_passes_caption_every_node_once(settings, stored, monkeypatch):
    monkeypatch.setattr(caption_run, "MAX_FRAMES_PER_PASS", 40)  # one node per pass
    with LoopbackServer(lambda body: f"caption {count_images(body)}") as srv:
        settings.models.endpoint = srv.url
        settings.models.captioner = ModelSpec(backend="openai", model_id="vlm")
        model = load_model(settings.models.captioner, settings.models)
        result = caption_run.Captioner(settings, model, db=stored).one(VID)
        assert len(srv.requests) == 7 + 4
    assert (result.outcome, result.captioned, result.failed) == ("done", 7, 0)
    assert stored[NODES].count_documents({"captions.vlm.status": "ok"}) == 7
