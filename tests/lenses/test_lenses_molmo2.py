"""The molmo2 lens (mean-pooled hidden states) on a tiny random-weight Molmo2 checkpoint."""

from __future__ import annotations

import numpy as np

from actionlens.lenses.backends import LensInput, load_lens
from actionlens.models.base import Video
from actionlens.settings import LensSpec, Settings


def test_molmo2_lens_mean_pools_to_unit_vectors_of_the_hidden_size(tmp_path):
    from actionlens.testing.tiny_molmo2 import save_tiny_molmo2

    path = save_tiny_molmo2(tmp_path / "tiny-molmo2")
    settings = Settings()
    settings.models.device = "cpu"
    settings.models.batch_size = 2
    backend = load_lens(
        LensSpec(lens="molmo2", backend="mean-pooled", model_id="tiny-molmo2", weights=str(path)),
        settings,
    )
    rng = np.random.default_rng(0)
    items = [
        LensInput(
            f"molmoLens{i:02d}",
            "",
            Video(
                rng.integers(0, 255, (8, 64, 64, 3), dtype=np.uint8), tuple(t / 2 for t in range(8))
            ),
        )
        for i in range(3)
    ]
    vectors = backend.embed(items)
    assert vectors.shape == (3, 64) and backend.text_space is None and backend.baseline is False
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        backend.embed(items[2:])[0], vectors[2], atol=1e-4
    )  # batch-independent
