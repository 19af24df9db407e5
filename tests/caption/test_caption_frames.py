"""Frame selection and extraction for captioning: spans, counts, sizes."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.caption.run import frame_requests, node_frames
from actionlens.media.frames import FrameRequest, decode_at, middle_time, segment_times
from actionlens.testing.media import Scene, render_clip
from actionlens.tree import build_tree

RED, GREEN, BLUE = (200, 40, 40), (40, 160, 60), (40, 70, 200)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, ffmpeg):
    """6 s at 10 fps: red [0, 2), green [2, 4), blue [4, 6)."""
    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    return render_clip(
        path,
        [Scene(2.0, RED), Scene(2.0, GREEN), Scene(2.0, BLUE)],
        ffmpeg=ffmpeg,
        fps=10,
        size=(160, 96),
        audio=False,
    )


def colour(frame: np.ndarray) -> tuple[int, int, int]:
    """The dominant colour (the median, so the moving square does not count)."""
    return tuple(int(v) for v in np.median(frame.reshape(-1, 3), axis=0))


def close(a, b, tol=30) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_segment_times_are_32_bin_centres_inside_the_span():
    times = segment_times(2.0, 6.0)
    assert len(times) == 32
    assert times[0] == pytest.approx(2.0 + 4 / 64) and times[-1] == pytest.approx(6.0 - 4 / 64)
    assert np.allclose(np.diff(times), 4 / 32)
    assert middle_time(2.0, 6.0) == 4.0


def test_frames_come_from_the_requested_times_at_the_requested_size(clip):
    frames = decode_at(
        clip,
        [FrameRequest(5.0, (320, 320)), FrameRequest(0.5, None), FrameRequest(3.0, (320, 320))],
    )
    assert [f.shape for f in frames] == [(320, 320, 3), (96, 160, 3), (320, 320, 3)]
    assert (
        close(colour(frames[0]), BLUE)
        and close(colour(frames[1]), RED)
        and close(colour(frames[2]), GREEN)
    )


def test_times_past_the_end_get_the_last_frame(clip):
    [frame] = decode_at(clip, [FrameRequest(99.0, (32, 32))])
    assert close(colour(frame), BLUE)


def test_leaves_get_32_frames_and_a_middle_frame_segments_only_32(clip):
    docs = [
        {"_id": "r", "parent_id": None, "level": 0, "start": 0.0, "end": 6.0},
        {"_id": "a", "parent_id": "r", "level": 1, "start": 0.0, "end": 2.0},
        {"_id": "b", "parent_id": "r", "level": 1, "start": 2.0, "end": 6.0},
    ]
    tree = build_tree("vid", "s", docs)
    nodes = list(tree.depth_first())
    assert len(frame_requests(nodes)) == 32 * 3 + 2
    root, a, b = node_frames(clip, nodes)
    assert root.image is None and a.image is not None and b.image is not None
    assert root.video.frames.shape == (32, 320, 320, 3)
    assert a.image.pixels.shape == (96, 160, 3) and a.image.time == 1.0
    assert close(colour(a.image.pixels), RED) and close(colour(b.image.pixels), BLUE)
    # Every frame of a node lies in its own span: b's first frames are green, last blue.
    assert b.video.times[0] > 2.0 and b.video.times[-1] < 6.0
    assert close(colour(b.video.frames[0]), GREEN) and close(colour(b.video.frames[-1]), BLUE)
    assert b.video.fps == pytest.approx(31 / (b.video.times[-1] - b.video.times[0]))


def test_a_late_first_frame_seeks_and_still_gets_the_right_frames(clip):
    frames = decode_at(clip, [FrameRequest(5.5, (32, 32)), FrameRequest(2.5, (32, 32))])
    assert close(colour(frames[0]), BLUE) and close(colour(frames[1]), GREEN)


def test_passes_bound_the_frames_held_and_keep_every_node_once():
    from actionlens.media.frames import frame_passes
    from actionlens.testing.trees import tree_docs

    tree = build_tree("vid", "s", tree_docs("vid", 90.0))
    nodes = list(tree.depth_first())
    passes = frame_passes(nodes, 200)
    assert sorted(n.id for p in passes for n in p) == sorted(n.id for n in nodes)
    assert all(32 * len(p) + sum(n.is_leaf for n in p) <= 200 for p in passes)
    assert len(frame_passes(nodes, 10_000)) == 1
