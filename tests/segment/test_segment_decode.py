"""The one-pass decoder on generated clips: frame rates, VFR, tiny, audio-only, broken."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from actionlens.segment.decode import (
    DecodeError,
    FrameSize,
    NoVideoStream,
    SampledFrames,
    decode_sampled,
)
from actionlens.testing.media import Scene, audio_only_clip, render_clip

SIZE = FrameSize(40, 32)
RED, GREEN = (200, 40, 40), (40, 160, 60)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg):
    """Clips rendered once per module, by name."""
    root = tmp_path_factory.mktemp("decode")
    made = {}
    for fps in (Fraction(24000, 1001), 25, Fraction(30000, 1001), 30, 60):
        made[str(fps)] = render_clip(
            root / f"fps_{float(fps):.3f}.mp4",
            [Scene(1.0, RED), Scene(1.0, GREEN)],
            ffmpeg=ffmpeg,
            fps=fps,
            size=(96, 64),
            audio=False,
        )
    made["short"] = render_clip(
        root / "short.mp4", [Scene(0.3, RED)], ffmpeg=ffmpeg, fps=30, size=(96, 64)
    )
    made["base"] = render_clip(
        root / "base.mp4",
        [Scene(2.0, RED), Scene(2.0, GREEN)],
        ffmpeg=ffmpeg,
        fps=30,
        size=(96, 64),
    )
    return made


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), 25, Fraction(30000, 1001), 30, 60], ids=str)
def test_every_fourth_frame_is_sampled_with_its_time(clips, fps):
    clip = decode_sampled(clips[str(fps)], SIZE)
    frame_count = round(2 * float(fps))
    assert clip.decoded == frame_count
    assert len(clip.frames) == len(clip.times) == (frame_count + 3) // 4
    np.testing.assert_allclose(clip.times, np.arange(len(clip.times)) * 4 / float(fps), atol=2e-3)
    assert clip.duration == pytest.approx(frame_count / float(fps), abs=2e-3)
    assert clip.frames.shape[1:] == (32, 32, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == pytest.approx(float(fps), rel=1e-3)
    # First scene red, second green: the colour lands on the right side of the cut.
    centre = clip.frames[:, 2, 2].astype(int)
    first_green = int(np.argmax(clip.times >= 1.0))
    assert (centre[:first_green, 0] > 150).all() and (centre[first_green:, 1] > 120).all()


def test_sample_every_is_configurable(clips):
    assert len(decode_sampled(clips["30"], SIZE, sample_every=1).times) == 60
    assert len(decode_sampled(clips["30"], SIZE, sample_every=7).times) == 9


def test_frames_are_centre_cropped_squares(clips):
    clip = decode_sampled(clips["30"], FrameSize(48, 40))
    assert clip.frames.shape[1:] == (40, 40, 3)


def test_variable_frame_rate_keeps_real_timestamps(tmp_path, ffmpeg, clips):
    # 30 frames at 30 fps, then the rest at 10 fps: a real VFR stream with known times.
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clips["30"]),
            "-vf",
            "settb=1/1000,setpts='if(lt(N,30),N/30,1+(N-30)/10)/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            str(vfr),
        ],
        check=True,
        capture_output=True,
    )
    clip = decode_sampled(vfr, SIZE, sample_every=1)
    assert clip.decoded == 60
    expected = np.array([k / 30 if k < 30 else 1 + (k - 30) / 10 for k in range(60)])
    np.testing.assert_allclose(clip.times, expected, atol=2e-3)
    assert np.all(np.diff(clip.times) > 0)
    assert clip.duration > expected[-1]


def test_clip_shorter_than_half_a_second_decodes(clips):
    clip = decode_sampled(clips["short"], SIZE)
    assert clip.decoded == 9 and len(clip.times) == 3
    assert clip.duration == pytest.approx(0.3, abs=2e-3)


def test_file_without_video_stream_fails_clearly(tmp_path, ffmpeg):
    audio = audio_only_clip(tmp_path / "audio_only.mp4", ffmpeg)
    frames = SampledFrames(audio, SIZE, video_id="audioonly01")
    with pytest.raises(NoVideoStream, match=r"\[audioonly01\] audio_only.mp4 has no video stream"):
        list(frames)


def test_file_that_is_not_media_fails_clearly(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DecodeError, match=r"\[notmedia001\] junk.mp4 cannot be opened"):
        list(SampledFrames(junk, SIZE, video_id="notmedia001"))


def test_truncated_clip_keeps_the_frames_before_the_cut(tmp_path, clips):
    data = clips["base"].read_bytes()
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    clip = decode_sampled(cut, SIZE, video_id="truncated01")
    assert clip.truncated
    assert 0 < clip.decoded < 120
    assert clip.duration < 4.0
    assert np.all(np.diff(clip.times) > 0)


def test_corrupt_frames_are_skipped_and_counted(tmp_path, clips):
    data = bytearray(clips["base"].read_bytes())
    rng = np.random.default_rng(0)
    for offset in range(len(data) // 3, 2 * len(data) // 3, 997):
        data[offset : offset + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    broken = tmp_path / "corrupt.mp4"
    broken.write_bytes(bytes(data))
    clip = decode_sampled(broken, SIZE, video_id="corrupt0001")
    assert clip.corrupt > 0
    assert clip.decoded + clip.corrupt <= 120
    assert len(clip.times) == (clip.decoded + 3) // 4
    assert clip.duration == pytest.approx(4.0, abs=0.05)


def test_frames_can_be_read_once_only(clips):
    frames = SampledFrames(clips["short"], SIZE)
    list(frames)
    with pytest.raises(RuntimeError, match="already read"):
        list(frames)


def test_crop_must_fit_the_short_side():
    with pytest.raises(ValueError, match="crop"):
        FrameSize(32, 40)


def test_decoded_frames_follow_the_stream_not_a_copy(clips):
    # Iterating yields frames as they are decoded: the times grow alongside.
    frames = SampledFrames(clips["30"], SIZE)
    seen = []
    for _ in frames:
        seen.append(len(frames.times))
    assert seen == list(range(1, 16))


def test_path_in_errors_is_the_file_name(tmp_path):
    missing = Path(tmp_path / "missing.mp4")
    with pytest.raises(DecodeError, match="missing.mp4"):
        list(SampledFrames(missing, SIZE, video_id="missing0001"))
