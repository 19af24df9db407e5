"""Bad lens vectors at the source: a backend that gives one video NaNs fails that video
only (with its id and what to do), and the weight-free motion baseline's features."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.lenses import backends
from actionlens.lenses import run as lens_run
from actionlens.lenses.backends import FrameMotionLens, LensInput
from actionlens.models.base import Video
from actionlens.settings import LensSpec
from actionlens.store.mongo import VIDEOS


class NaNForOne:
    """Embeds transcripts; the video whose text says "broken" gets NaNs."""

    backend = "nan-for-one"
    baseline = True
    needs_gpu = False
    needs_frames = False
    text_space = None

    def __init__(self, spec, settings):
        self.model_id = spec.model_id

    def has_input(self, item):
        return bool(item.transcript)

    def embed(self, items):
        out = np.ones((len(items), 4), dtype=np.float32) / 2
        for n, item in enumerate(items):
            if "broken" in item.transcript:
                out[n, 2] = np.nan
        return out


@pytest.fixture
def nan_lens(monkeypatch, settings):
    monkeypatch.setitem(backends.LENS_BACKENDS._table, "nan-for-one", NaNForOne)
    spec = LensSpec(lens="probe", backend="nan-for-one", model_id="nan-probe")
    return settings.model_copy(
        update={"opinions": settings.opinions.model_copy(update={"lenses": [spec]})}
    )


def test_a_nan_vector_fails_its_own_video_and_the_batch_is_stored(nan_lens, db):
    for vid, text in (("nanVideo001", "fine words"), ("nanVideo002", "broken words")):
        db[VIDEOS].insert_one(
            {"_id": vid, "transcript": {"segments": [{"start": 0, "end": 1, "text": text}]}}
        )
    report = lens_run.LensRunner(nan_lens, db=db, bucket=object()).run(
        ["nanVideo001", "nanVideo002"]
    )
    counts = report["lenses"]["probe"]["counts"]
    assert counts["done"] == 1 and counts["failed"] == 1
    assert report["failed"] == ["nanVideo002"]
    videos = {v["video_id"]: v for v in report["lenses"]["probe"]["videos"]}
    why = videos["nanVideo002"]["error"]
    assert "[nanVideo002] lens probe (nan-probe) gave a vector with NaN" in why and "--force" in why
    bad = db[lens_run.LENSES].find_one({"_id": "nanVideo002:probe"})
    assert bad["status"] == "failed" and bad["vector"] is None
    good = db[lens_run.LENSES].find_one({"_id": "nanVideo001:probe"})
    assert good["status"] == "ok" and good["dim"] == 4


def _clip(moving: bool) -> Video:
    frames = np.zeros((8, 32, 32, 3), dtype=np.uint8)
    for t in range(8):
        x = 4 * t if moving else 0
        frames[t, 8:16, x : x + 4] = 255  # a white bar (sliding when moving)
    return Video(frames, tuple(range(8)))


def test_motion_baseline_sees_where_and_how_much_things_move():
    lens = FrameMotionLens(LensSpec(lens="motion", backend="frame-motion", model_id="m"), None)
    still, moving = (LensInput(v, "", _clip(m)) for v, m in (("s", False), ("m", True)))
    vectors = lens.embed([still, moving])
    assert vectors.shape == (2, 96)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.all(vectors[0, :80] == 0)  # nothing changes: no motion anywhere or ever
    where = vectors[1, :64].reshape(8, 8)
    assert where[2:4].sum() > 0 and where[5:].sum() == 0  # only the bar's rows move
    assert not lens.has_input(LensInput("one", "", Video(np.zeros((1, 8, 8, 3), np.uint8), (0,))))
