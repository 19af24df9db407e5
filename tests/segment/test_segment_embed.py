"""Embedders: the registry, the pixels baseline, and V-JEPA 2 on a tiny random config."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.errors import ConfigurationError
from actionlens.segment.embed import (
    EMBEDDERS,
    PixelEmbedder,
    VJEPA2Embedder,
    make_embedder,
    window_starts,
)
from actionlens.settings import SegmentSettings


def _frames(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_model():
    import torch
    from transformers import VJEPA2Model

    from actionlens.bench.segment import tiny_vjepa2_config

    torch.manual_seed(0)
    return VJEPA2Model(tiny_vjepa2_config()).eval()


def _vjepa2(model, **overrides) -> VJEPA2Embedder:
    cfg = SegmentSettings(backend="vjepa2", device="cpu", **overrides)
    return VJEPA2Embedder(cfg, model=model)


def test_backends_are_registered_by_name():
    assert {"pixels", "vjepa2"} <= set(EMBEDDERS)
    assert isinstance(make_embedder(SegmentSettings()), PixelEmbedder)


def test_unknown_backend_names_the_choices():
    with pytest.raises(ConfigurationError, match=r"segment.backend='nope'.*pixels"):
        make_embedder(SegmentSettings(backend="nope"))


def test_pixels_is_deterministic_and_named_a_baseline():
    e = PixelEmbedder()
    frames = _frames(5, e.frame_size.crop)
    a, b = e.embed(iter(frames)), e.embed(iter(frames))
    assert a.shape == (5, 8 * 8 * 3 + 3 * 8) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert "baseline" in e.version


def test_pixels_tells_colours_apart():
    e = PixelEmbedder()
    red = np.full((32, 32, 3), (200, 40, 40), np.uint8)
    red2 = red.copy()
    red2[:2] = 190
    green = np.full((32, 32, 3), (40, 160, 60), np.uint8)
    v = e.embed([red, red2, green])
    assert np.linalg.norm(v[0] - v[1]) < np.linalg.norm(v[0] - v[2]) / 5


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, [0]), (63, [0]), (64, [0]), (72, [0, 8]), (100, [0, 8, 16, 24, 32, 36]), (80, [0, 8, 16])],
)
def test_window_starts_cover_every_frame(n, expected):
    assert window_starts(n, 64, 8) == expected
    covered = np.zeros(n, bool)
    for s in window_starts(n, 64, 8):
        covered[s : s + 64] = True
    assert covered.all()


def test_vjepa2_shapes_and_version(tiny_model):
    e = _vjepa2(tiny_model)
    out = e.embed(iter(_frames(100, e.frame_size.crop)))
    assert out.shape == (100, tiny_model.config.hidden_size) and out.dtype == np.float32
    assert np.isfinite(out).all() and (np.abs(out).sum(axis=1) > 0).all(), "no frame left as zeros"
    assert e.version.startswith("vjepa2:") and ":w64s8" in e.version
    assert e.frame_size.crop == 32 and e.dtype.is_floating_point


def _direct(model, frames: list[np.ndarray], window: int, stride: int) -> np.ndarray:
    """The specification computed naively: each window alone, tokens → frames, averaged."""
    import torch

    x = np.stack(frames)
    n = len(x)
    sums = np.zeros((n, model.config.hidden_size))
    counts = np.zeros(n)
    mean = torch.tensor(VJEPA2Embedder.MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(VJEPA2Embedder.STD).view(1, 1, 3, 1, 1)
    for s in window_starts(n, window, stride):
        w = x[s : s + window]
        t = len(w)
        if t % 2:
            w = np.concatenate([w, w[-1:]])
        v = torch.from_numpy(w).permute(0, 3, 1, 2).float()[None] / 255.0
        with torch.no_grad():
            tokens = model.get_vision_features((v - mean) / std)[0]  # (t/2 · patches, d)
        patches = tokens.shape[0] // (len(w) // 2)
        for k in range(t):
            # Frame k belongs to tubelet k // 2, whose tokens are contiguous.
            sums[s + k] += tokens[(k // 2) * patches : (k // 2 + 1) * patches].mean(0).numpy()
            counts[s + k] += 1
    return sums / counts[:, None]


@pytest.mark.parametrize(("n", "batch"), [(100, 4), (100, 1), (37, 4), (64, 3)])
def test_vjepa2_equals_the_direct_computation(tiny_model, n, batch):
    e = _vjepa2(tiny_model, batch_size=batch)
    frames = _frames(n, e.frame_size.crop, seed=n)
    got = e.embed(iter(frames))
    np.testing.assert_allclose(got, _direct(tiny_model, frames, 64, 8), rtol=1e-4, atol=1e-5)


def test_vjepa2_small_windows_and_odd_tail(tiny_model):
    e = _vjepa2(tiny_model, window=8, stride=3, batch_size=2)
    frames = _frames(23, e.frame_size.crop, seed=5)
    np.testing.assert_allclose(
        e.embed(frames), _direct(tiny_model, frames, 8, 3), rtol=1e-4, atol=1e-5
    )


def test_vjepa2_loads_weights_from_a_local_directory(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "vjepa2-tiny")
    e = make_embedder(
        SegmentSettings(backend="vjepa2", device="cpu", weights=str(tmp_path / "vjepa2-tiny"))
    )
    assert e.version.startswith("vjepa2:vjepa2-tiny-h32-32px")
    frames = _frames(10, 32)
    np.testing.assert_allclose(
        e.embed(frames), _vjepa2(tiny_model).embed(frames), rtol=1e-5, atol=1e-6
    )


def test_checkpoint_names_in_versions_are_short_and_stable():
    from actionlens.segment.embed import checkpoint_name

    snap = "/hf/hub/models--facebook--vjepa2-vitg-fpc64-384/snapshots/0123456789abcdef"
    assert checkpoint_name(snap) == "vjepa2-vitg-fpc64-384@01234567"
    assert checkpoint_name("/models/vjepa2-vitg-fpc64-384/") == "vjepa2-vitg-fpc64-384"


def test_vjepa2_without_weights_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="never downloaded"):
        make_embedder(
            SegmentSettings(backend="vjepa2", device="cpu", weights=str(tmp_path / "absent"))
        )


def test_vjepa2_rejects_a_stride_longer_than_the_window(tiny_model):
    with pytest.raises(ConfigurationError, match="stride"):
        _vjepa2(tiny_model, window=8, stride=9)
