"""The Qwen3-VL-Embedding lens on a tiny random-weight Qwen3-VL checkpoint: the real
processor and backbone from frames and from text to unit vectors of one space."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.lenses.backends import LensInput, load_lens
from actionlens.models.base import Video
from actionlens.settings import LensSpec, Settings


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from actionlens.testing.tiny import save_tiny_qwen3vl

    return save_tiny_qwen3vl(tmp_path_factory.mktemp("weights") / "tiny-qwen3-vl-embedding")


def lens(weights, backend="qwen3vl-embedding"):
    spec = LensSpec(
        lens="qwen3vl_embedding",
        backend=backend,
        model_id="tiny-qwen3-vl-embedding",
        weights=str(weights),
    )
    settings = Settings()
    settings.models.device = "cpu"
    settings.models.batch_size = 2
    return load_lens(spec, settings)


def clips(n: int) -> list[LensInput]:
    rng = np.random.default_rng(0)
    return [
        LensInput(
            f"qwenLens{i:03d}",
            "",
            Video(
                rng.integers(0, 255, (8, 64, 64, 3), dtype=np.uint8), tuple(i / 2 for i in range(8))
            ),
        )
        for i in range(n)
    ]


def test_videos_and_texts_embed_to_unit_vectors_of_the_hidden_size(weights):
    backend = lens(weights)
    videos = backend.embed(clips(3))  # two batches: 2 + 1
    texts = backend.embed_texts(["Food and Entertaining", "Health", "Pets and Animals"])
    assert videos.shape == (3, 64) and texts.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(videos, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert backend.text_space == "text-video" and backend.baseline is False


def test_embedding_is_deterministic_and_independent_of_the_batch(weights):
    backend = lens(weights)
    items = clips(3)
    together = backend.embed(items)
    alone = backend.embed(items[2:])
    np.testing.assert_allclose(together[2], alone[0], atol=1e-4)
    assert not np.allclose(together[0], together[1])  # different frames, different vectors


def test_mean_pooled_lens_has_no_text_space(weights):
    backend = lens(weights, "mean-pooled")
    vectors = backend.embed(clips(2))
    assert vectors.shape == (2, 64) and backend.text_space is None
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_missing_weights_are_a_configuration_error(tmp_path):
    from actionlens.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no weights for"):
        lens(tmp_path / "nothing")


@pytest.mark.integration
def test_category_lens_stores_a_text_video_zero_shot_label(
    settings, db, silent_clip, store_clip, weights
):
    from actionlens.lenses.run import LENSES, LensRunner
    from actionlens.testing.media import Scene

    vid = "qwenCat0001"
    store_clip(settings, db, vid, silent_clip([Scene(4.0, (200, 40, 40))], fps=4, size=(64, 48)))
    settings.models.device = "cpu"
    settings.opinions.lenses = [
        LensSpec(
            lens="qwen3vl_embedding",
            backend="qwen3vl-embedding",
            model_id="tiny-qwen3-vl-embedding",
            weights=str(weights),
        )
    ]
    settings.opinions.category_lens = "qwen3vl_embedding"
    report = LensRunner(settings, db=db).run([vid])
    assert report["lenses"]["qwen3vl_embedding"]["counts"]["done"] == 1
    doc = db[LENSES].find_one({"_id": f"{vid}:qwen3vl_embedding"})
    assert doc["dim"] == 64 and doc["baseline"] is False
    category = doc["category"]
    assert (
        category["label"] in settings.opinions.categories
        and category["method"] == "text-video zero-shot"
    )
    assert category["baseline"] is False and category["score"] == max(category["scores"].values())
