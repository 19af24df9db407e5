"""One pass over a clip's video stream: every Nth frame, resized for the encoder, timed.

Iterating a `SampledFrames` decodes the stream once and yields RGB frames (H, W, 3 uint8)
as they come, so an embedder can consume a long video without holding it in memory; the
timestamps, duration and corrupt-frame count are filled in as it goes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actionlens.errors import VideoError

log = logging.getLogger(__name__)


class NoVideoStream(VideoError):
    """The file has no video stream (audio only, or not media at all): final."""


class DecodeError(VideoError):
    """The file could not be opened or yielded no decodable frame."""


@dataclass(frozen=True)
class FrameSize:
    """Resize the short side to `short`, then centre-crop a `crop` × `crop` square."""

    short: int
    crop: int

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.short:
            raise ValueError(f"crop {self.crop} must be in (0, short={self.short}]")


@dataclass
class SampledFrames:
    """A clip's sampled frames, decoded lazily in one pass (iterate once)."""

    path: Path
    size: FrameSize
    video_id: str = "?"
    sample_every: int = 4
    threads: int = 0
    times: list[float] = field(default_factory=list)  # seconds from the stream start
    decoded: int = 0  # good frames decoded (sampled or not)
    corrupt: int = 0  # packets or frames that failed to decode, skipped
    truncated: bool = False  # the container ended early
    duration: float = 0.0  # end of the last decoded frame
    fps: float = 0.0
    _used: bool = False
    _graph: object = None  # the crop/scale filter graph, built for the first frame's format
    _graph_key: tuple | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        if self._used:
            raise RuntimeError(
                f"[{self.video_id}] sampled frames of {self.path.name} were already read"
            )
        self._used = True
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:
            raise DecodeError(
                self.video_id, f"{self.path.name} cannot be opened as media: {exc}"
            ) from exc
        with container:
            if not container.streams.video:
                raise NoVideoStream(
                    self.video_id,
                    f"{self.path.name} has no video stream (audio-only or not a video); "
                    "re-acquire the clip",
                )
            stream = container.streams.video[0]
            # Frame threads: decoding every frame is the cost; conversion is 1 in N.
            stream.thread_type = "FRAME"
            stream.codec_context.thread_count = self.threads
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else 0.0
            nominal = 1.0 / self.fps if self.fps else 0.0
            tb = stream.time_base
            start = float(stream.start_time * tb) if stream.start_time is not None and tb else None
            last_end = 0.0
            for index, frame in enumerate(self._frames(container, stream)):
                if frame.time is None:
                    # No timestamp at all: place it one nominal frame after the last.
                    t = last_end
                else:
                    if start is None:
                        start = float(frame.time)
                    t = max(0.0, float(frame.time) - start)
                step = float(frame.duration * tb) if frame.duration and tb else nominal
                last_end = max(last_end, t + (step or nominal))
                self.decoded += 1
                if index % self.sample_every == 0:
                    if self.times and t <= self.times[-1]:
                        # Out-of-order or duplicate timestamp (VFR muxing): keep times increasing.
                        t = self.times[-1] + 1e-6
                    self.times.append(t)
                    yield self._resize(frame)
            if stream.frames and self.decoded + self.corrupt < stream.frames:
                # The header promised more frames than the file holds: cut short.
                self.truncated = True
            if self.times:
                self.duration = (
                    last_end if last_end > self.times[-1] else self.times[-1] + (nominal or 1 / 30)
                )
        if not self.times:
            raise DecodeError(
                self.video_id,
                f"{self.path.name} yielded no decodable frame ({self.corrupt} corrupt packets)",
            )
        if self.corrupt or self.truncated:
            log.warning(
                "[%s] %s: %d corrupt frames skipped%s",
                self.video_id,
                self.path.name,
                self.corrupt,
                ", stream ends early" if self.truncated else "",
            )

    def _frames(self, container, stream):
        """Decoded frames in presentation order; bad packets are skipped and counted."""
        import av

        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                # The demuxer cannot go on (cut-off file): keep what was decoded.
                self.truncated = True
                break
            try:
                frames = packet.decode()  # a None packet flushes the decoder at the end
            except av.FFmpegError:
                self.corrupt += 1
                continue
            for frame in frames:
                if frame.is_corrupt:
                    self.corrupt += 1
                    continue
                yield frame
        try:
            yield from (f for f in stream.codec_context.decode(None) if not f.is_corrupt)
        except av.FFmpegError:
            self.corrupt += 1

    def _resize(self, frame) -> np.ndarray:
        """Centre-crop then scale in libavfilter: cropping first is free (a pointer shift)
        and scales only the pixels kept, several times cheaper than scale-then-crop."""
        key = (frame.width, frame.height, frame.format.name)
        if self._graph is None or self._graph_key != key:
            self._graph, self._graph_key = self._build_graph(frame), key
        self._graph.push(frame)
        return self._graph.pull().to_ndarray()

    def _build_graph(self, frame):
        import av

        w, h = frame.width, frame.height
        # The square of the source that ends up as the crop after a short-side resize.
        side = min(min(w, h), max(1, round(self.size.crop * min(w, h) / self.size.short)))
        # Area averaging for strong reductions (thumbnails) avoids aliasing; bilinear
        # is enough for the mild one to the encoder size.
        flags = "area" if self.size.crop < side / 2 else "fast_bilinear"
        graph = av.filter.Graph()
        chain = [
            graph.add_buffer(
                width=w, height=h, format=frame.format.name, time_base=frame.time_base
            ),
            graph.add("crop", f"{side}:{side}"),
            graph.add("scale", f"{self.size.crop}:{self.size.crop}:flags={flags}"),
            graph.add("format", "rgb24"),
            graph.add("buffersink"),
        ]
        for a, b in zip(chain, chain[1:], strict=False):
            a.link_to(b)
        graph.configure()
        return graph


@dataclass(frozen=True)
class DecodedClip:
    """All sampled frames of a clip in memory (for tests and benchmarks of short clips)."""

    frames: np.ndarray  # (n, crop, crop, 3) uint8
    times: np.ndarray  # (n,) seconds
    duration: float
    decoded: int
    corrupt: int
    truncated: bool
    fps: float


def decode_sampled(
    path: Path, size: FrameSize, *, sample_every: int = 4, video_id: str = "?", threads: int = 0
) -> DecodedClip:
    """Decode `path` once and return every `sample_every`-th frame with its time."""
    sampled = SampledFrames(
        Path(path), size, video_id=video_id, sample_every=sample_every, threads=threads
    )
    frames = list(sampled)
    return DecodedClip(
        frames=np.stack(frames),
        times=np.asarray(sampled.times),
        duration=sampled.duration,
        decoded=sampled.decoded,
        corrupt=sampled.corrupt,
        truncated=sampled.truncated,
        fps=sampled.fps,
    )
