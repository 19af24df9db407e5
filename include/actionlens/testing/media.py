"""Generated media and HowTo100M-shaped inputs for the demo, tests and benchmarks.

No HowTo100M or Action100M file may be redistributed, so every fixture is made here:
clips with distinct scenes at known times, a manifest, task names and ASR transcripts.
"""

from __future__ import annotations

import csv
import json
import random
import string
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from actionlens.media import AAC, H264, ffmpeg_cmd

CATEGORIES = [
    ("Food and Entertaining", "Recipes"),
    ("Home and Garden", "Gardening"),
    ("Cars & Other Vehicles", "Motorcycles"),
    ("Hobbies and Crafts", "Woodworking"),
    ("Sports and Fitness", "Yoga"),
    ("Computers and Electronics", "Phones"),
]
TASKS = {
    "10001": "Make Pancakes",
    "10002": "Plant a Tomato",
    "10003": "Change a Motorcycle Tire",
    "10004": "Build a Birdhouse",
    "10005": "Do a Sun Salutation",
    "10006": "Replace a Phone Screen",
}
PALETTE = [
    (200, 40, 40),
    (40, 160, 60),
    (40, 70, 200),
    (220, 200, 40),
    (160, 40, 180),
    (30, 180, 190),
    (230, 120, 30),
    (90, 90, 90),
]


def testsrc_clip(
    path: Path, seconds: float, ffmpeg: str, size: str = "854x480", fps: int = 30
) -> Path:
    """A generated H.264/AAC clip with motion everywhere (ffmpeg's testsrc2), like a
    normalised preview; kept if `path` exists (benchmarks reuse it)."""
    if path.exists():
        return path
    cmd = ffmpeg_cmd(ffmpeg, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}")
    cmd += ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100", "-t", f"{seconds:.3f}"]
    cmd += ["-map", "0:v", "-map", "1:a", *H264, *AAC, "-g", "60", "-movflags", "+faststart"]
    cmd += [str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def audio_only_clip(path: Path, ffmpeg: str, seconds: float = 1.0) -> Path:
    """An MP4 with an AAC stream and no video stream (a source that is not a video)."""
    cmd = ffmpeg_cmd(ffmpeg, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050")
    cmd += ["-t", f"{seconds}", "-c:a", "aac"]
    subprocess.run([*cmd, str(path)], check=True, capture_output=True)
    return path


@dataclass(frozen=True)
class Scene:
    seconds: float
    colour: tuple[int, int, int]


def video_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(11))


def scenes_for(rng: random.Random, total: float, n: int) -> list[Scene]:
    """`n` scenes of uneven length summing to `total` seconds, neighbours differing."""
    cuts = sorted(rng.uniform(0.15, 0.85) * total for _ in range(n - 1))
    bounds = [0.0, *cuts, total]
    colours = rng.sample(PALETTE, k=min(n, len(PALETTE)))
    colours = [colours[i % len(colours)] for i in range(n)]
    return [Scene(bounds[i + 1] - bounds[i], colours[i]) for i in range(n)]


def render_clip(
    path: Path,
    scenes: Sequence[Scene],
    *,
    ffmpeg: str,
    fps: float | Fraction = 30,
    size: tuple[int, int] = (320, 240),
    audio: bool = True,
    faststart: bool = True,
    seed: int = 0,
) -> Path:
    """Encode scenes of flat colour with a moving square and mild noise to H.264 MP4.

    Scene `i` starts at the sum of the earlier durations, so its cut times are known.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    fps_f = float(fps)
    frames = []
    for scene in scenes:
        n = max(1, round(scene.seconds * fps_f))
        for k in range(n):
            img = np.empty((height, width, 3), dtype=np.uint8)
            img[:] = scene.colour
            side = max(8, height // 6)
            x = int((k * 4) % max(1, width - side))
            y = height // 2 - side // 2
            img[y : y + side, x : x + side] = 255 - np.array(scene.colour, dtype=np.uint8)
            noise = rng.integers(-6, 7, size=(-(-height // 8), -(-width // 8), 1), dtype=np.int16)
            noise = np.kron(noise, np.ones((8, 8, 1), np.int16))[:height, :width]
            img = np.clip(img.astype(np.int16) + noise, 0, 255)
            frames.append(img.astype(np.uint8))
    total = len(frames) / fps_f
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ffmpeg_cmd(ffmpeg, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}")
    cmd += ["-r", str(fps), "-i", "-"]
    if audio:
        cmd += [
            "-f",
            "lavfi",
            "-t",
            f"{total:.3f}",
            "-i",
            f"sine=frequency={220 + seed % 400}:sample_rate=22050",
        ]
    cmd += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "64k"] if audio else [])
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd += [str(path)]
    proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not render {path}: {proc.stderr.decode()[-400:]}")
    return path


@dataclass
class DemoSource:
    """A HowTo100M-shaped source on disk: clips, manifest, task names, transcripts."""

    root: Path
    ids: list[str]
    scenes: dict[str, list[Scene]]

    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    @property
    def manifest(self) -> Path:
        return self.root / "HowTo100M_v1.csv"

    @property
    def task_ids(self) -> Path:
        return self.root / "task_ids.csv"

    @property
    def transcripts(self) -> Path:
        return self.root / "raw_caption.json"


def make_source(
    root: Path,
    *,
    ffmpeg: str,
    n_videos: int = 4,
    seconds: float = 20.0,
    seed: int = 7,
    extra_manifest_ids: int = 0,
    speech: Callable[[int, list[Scene]], list[str]] | None = None,
) -> DemoSource:
    """Write `n_videos` clips with 3–5 scenes each plus manifest, task names, transcripts
    and `scenes.json` (each clip's scenes: seconds and RGB colour).

    `extra_manifest_ids` adds manifest rows whose clips do not exist (the source answers
    404 for them, like removed YouTube videos). `speech(i, scenes)` gives video i's
    spoken line per scene ("" for silence); by default each scene names its step.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [video_id(rng) for _ in range(n_videos)]
    missing = [video_id(rng) for _ in range(extra_manifest_ids)]
    scenes: dict[str, list[Scene]] = {}
    for i, vid in enumerate(ids):
        scenes[vid] = scenes_for(rng, seconds, rng.randint(3, 5))
        render_clip(root / "videos" / f"{vid}.mp4", scenes[vid], ffmpeg=ffmpeg, seed=seed + i)
    with open(root / "HowTo100M_v1.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["video_id", "category_1", "category_2", "rank", "task_id"])
        for i, vid in enumerate(ids + missing):
            cat1, cat2 = CATEGORIES[i % len(CATEGORIES)]
            task = list(TASKS)[i % len(TASKS)]
            writer.writerow([vid, cat1, cat2, 1 + i, task])
    with open(root / "task_ids.csv", "w") as fh:
        for task, name in TASKS.items():
            fh.write(f"{task}\t{name}\n")
    captions = {}
    for i, vid in enumerate(ids):
        task = TASKS[list(TASKS)[i % len(TASKS)]].lower()
        lines = (
            speech(i, scenes[vid])
            if speech
            else [
                f"step {k + 1} of how to {task}, now we work on part {k + 1}"
                for k in range(len(scenes[vid]))
            ]
        )
        starts, ends, texts = [], [], []
        t = 0.0
        for scene, line in zip(scenes[vid], lines, strict=True):
            if line:
                starts.append(round(t, 2))
                ends.append(round(t + scene.seconds, 2))
                texts.append(line)
            t += scene.seconds
        captions[vid] = {"start": starts, "end": ends, "text": texts}
    (root / "raw_caption.json").write_text(json.dumps(captions))
    (root / "scenes.json").write_text(
        json.dumps(
            {
                vid: [{"seconds": s.seconds, "colour": list(s.colour)} for s in scenes[vid]]
                for vid in ids
            }
        )
    )
    return DemoSource(root, ids, scenes)
