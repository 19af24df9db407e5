"""ffmpeg and PyAV: normalise clips to the platform's format and probe what they are."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from actionlens.errors import ConfigurationError
from actionlens.lifetime import die_with_parent


class MediaError(Exception):
    """A file could not be decoded or encoded; `kind` says how it failed."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind  # "empty" | "not_video" | "truncated" | "encode"


def ffmpeg_binary(explicit: str | None = None) -> str:
    """The configured ffmpeg, else the static build shipped by imageio-ffmpeg."""
    if explicit:
        if not Path(explicit).is_file():
            raise ConfigurationError(f"ffmpeg={explicit!r} is not a file")
        return explicit
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise ConfigurationError(
            "no ffmpeg: install imageio-ffmpeg or set ACTIONLENS_FFMPEG"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Probe:
    duration: float
    fps: float
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    audio_codec: str | None
    frames: int | None


def probe(path: Path) -> Probe:
    """Open the container and read the first video stream's facts.

    Raises MediaError("empty" | "not_video" | "truncated").
    """
    import av

    if not path.exists() or path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes)", "empty")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError as exc:
        kind = "truncated" if _looks_like_mp4(path) else "not_video"
        raise MediaError(f"{path.name} is not a decodable media file ({exc})", kind) from exc
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name} could not be opened ({exc})", "not_video") from exc
    with container:
        if not container.streams.video:
            raise MediaError(f"{path.name} has no video stream", "not_video")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return Probe(
            duration=float(duration or 0.0),
            fps=float(rate),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            video_codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or "",
            audio_codec=audio,
            frames=stream.frames or None,
        )


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide")


def ffmpeg_cmd(ffmpeg: str, *args: str) -> list[str]:
    """An ffmpeg call that never reads stdin, prints only errors and overwrites its output."""
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]


# The normalised clip's codecs (synthetic clips use them too, to look like stored ones).
H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "128k")


def normalise(
    source: Path,
    target: Path,
    *,
    ffmpeg: str,
    seconds: float = 90.0,
    max_height: int = 480,
    timeout: float = 600.0,
) -> None:
    """Re-encode the first `seconds` to H.264/yuv420p/AAC MP4, ≤ max_height, even sides,
    moov atom first (faststart). yt-dlp cannot know a plain file's height, so the height
    cap is enforced here for every source."""
    scale = f"scale=w='trunc(iw*min(1,{max_height}/ih)/2)*2':h='trunc(min(ih,{max_height})/2)*2'"
    cmd = ffmpeg_cmd(ffmpeg, "-i", str(source), "-t", f"{seconds:.3f}")
    cmd += ["-map", "0:v:0", "-map", "0:a:0?", "-vf", scale, *H264, *AAC, "-ac", "2"]
    cmd += ["-movflags", "+faststart", "-threads", "2", str(target)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=die_with_parent
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffmpeg took longer than {timeout}s on {source.name}", "encode") from exc
    if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        err = (done.stderr or "").strip().splitlines()
        raise MediaError(
            f"ffmpeg could not normalise {source.name}: {' | '.join(err[-3:]) or 'no output'}",
            "encode",
        )


def decoded_duration(path: Path) -> float:
    """How many seconds of video `path` really holds: every frame of its first video stream
    decoded, to the end of the last one (container metadata can claim what is not there).

    Raises MediaError("truncated") when no frame decodes."""
    import av

    end = 0.0
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise MediaError(f"{path.name} has no video stream", "not_video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        step = float(1 / rate) if rate else 0.0
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        try:
            for frame in container.decode(stream):
                if frame.time is not None:
                    end = max(end, frame.time - start + step)
        except av.FFmpegError as exc:
            message = f"{path.name} stops decoding after {end:.2f} s ({exc})"
            raise MediaError(message, "truncated") from exc
    if end <= 0:
        raise MediaError(f"{path.name} has no decodable video frame", "truncated")
    return end
