"""Opinion sources in-process on tiny random-weight checkpoints of the real architectures:
Qwen3-VL (`transformers`) and Molmo2 (`transformers-auto`), from a stored clip's frames to
a stored (here: invalid, random-weight) answer with its repair turn."""

from __future__ import annotations

import pytest

from actionlens.opinions import run as op
from actionlens.settings import OpinionSource
from actionlens.store.mongo import NODES
from actionlens.testing.media import Scene
from actionlens.testing.trees import small_tree

pytestmark = pytest.mark.integration  # mongod and a bucket folder

VID = "tinyVLM0001"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from actionlens.testing.tiny import save_tiny_qwen3vl
    from actionlens.testing.tiny_molmo2 import save_tiny_molmo2

    root = tmp_path_factory.mktemp("weights")
    return {
        "qwen3vl": save_tiny_qwen3vl(root / "tiny-qwen3-vl"),
        "molmo2": save_tiny_molmo2(root / "tiny-molmo2"),
    }


@pytest.fixture
def stored(settings, db, silent_clip, store_clip):
    store_clip(settings, db, VID, silent_clip([Scene(12.0, (40, 160, 60))], fps=4, size=(64, 48)))
    docs = small_tree(VID)
    docs[0]["annotations"] = {
        "gpt": {"summary": {"brief": "r", "detailed": "r"}, "action": {}}
    }  # the root only
    db[NODES].insert_many(docs)
    return db


@pytest.mark.parametrize(
    "source, backend", [("qwen3vl", "transformers"), ("molmo2", "transformers-auto")]
)
def test_tiny_model_watches_the_span_and_its_answer_goes_through_parse_and_repair(
    settings, stored, checkpoints, source, backend
):
    settings.models.device = "cpu"
    spec = OpinionSource(
        source=source,
        backend=backend,
        model_id=f"tiny-{source}",
        weights=str(checkpoints[source]),
        max_new_tokens=8,
    )
    settings.opinions.sources = [spec]
    model = op.load_opinion_model(spec, settings)
    report = op.OpinionRunner(settings, model, source, db=stored).run([VID])
    root = stored[NODES].find_one({"video_id": VID, "parent_id": None})["annotations"][source]
    # Random weights cannot write JSON: answered, repaired once, kept raw as invalid.
    assert root["status"] == "invalid" and root["rounds"] == 2 and root["repaired"] is True
    assert (
        isinstance(root["raw"], str)
        and root["model_id"] == f"tiny-{source}"
        and root["baseline"] is False
    )
    assert root["usage"]["prompt_tokens"] > 32  # the 32 frames became vision tokens
    assert report["nodes"] == 1 and report["videos"][0]["invalid"] == 1
