"""Weight-free opinion baselines for the embedded default. They are baselines, never
models: their model ids end in `-baseline` and every stored answer says `baseline: true`.

Each reads real input (the node's frames, and the ASR text overlapping its span from
`request.context`) and answers the stage-3 schema as JSON, so the opinion path runs the
same parsing, repair and storage code as with a real VLM. Two variants differ in what
they lead with, so two baseline sources do not agree by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from actionlens.models.base import ChatRequest, Generation, Usage, Video
from actionlens.models.baselines import NA, first_sentence, overlapping_text
from actionlens.settings import ModelSettings, ModelSpec

# Named colours the mean frame colour is matched to (RGB).
PALETTE = {
    "black": (20, 20, 20),
    "white": (235, 235, 235),
    "grey": (128, 128, 128),
    "red": (200, 40, 40),
    "orange": (230, 140, 40),
    "yellow": (220, 210, 60),
    "green": (50, 160, 70),
    "blue": (40, 70, 200),
    "purple": (130, 60, 160),
    "brown": (120, 80, 40),
    "pink": (230, 150, 180),
}
MAX_SPEECH_WORDS = 60


def frame_facts(video: Video | None) -> dict[str, str | float]:
    """Dominant colour, brightness and motion of a node's frames (plain words + numbers)."""
    if video is None or video.frames.size == 0:
        return {"colour": "unseen", "light": "unseen", "motion": "unknown", "change": 0.0}
    frames = video.frames.astype(np.float32)
    mean = frames.reshape(-1, 3).mean(axis=0)
    colour = min(PALETTE, key=lambda n: float(np.sum((mean - np.array(PALETTE[n])) ** 2)))
    luma = float(mean @ np.array([0.299, 0.587, 0.114]))
    change = float(np.abs(np.diff(frames, axis=0)).mean() / 255.0) if len(frames) > 1 else 0.0
    light = "dark" if luma < 70 else "bright" if luma > 180 else "evenly lit"
    motion = "little" if change < 0.02 else "some" if change < 0.08 else "a lot of"
    return {"colour": colour, "light": light, "motion": motion, "change": round(change, 4)}


def _video(request: ChatRequest) -> Video | None:
    for message in request.messages:
        for part in message.parts():
            if isinstance(part, Video):
                return part
    return None


class _OpinionBaseline:
    baseline = True
    needs_gpu = False
    needs_frames = True  # both read what the frames show
    lead = "frames"

    def __init__(self, spec: ModelSpec, models: ModelSettings | None = None):
        self.model_id = spec.model_id

    def answer(self, request: ChatRequest) -> dict:
        start, end = (float(x) for x in request.context.get("span", (0.0, 0.0)))
        facts = frame_facts(_video(request))
        speech = overlapping_text(request.context.get("transcript") or [], start, end)
        speech = " ".join(speech.split()[:MAX_SPEECH_WORDS])
        scene = (
            f"A mostly {facts['colour']}, {facts['light']} scene with {facts['motion']} "
            f"motion over {end - start:.1f} seconds."
        )
        if self.lead == "transcript" and speech:
            brief, detailed = first_sentence(speech), f"{speech} {scene}"
        else:
            brief, detailed = scene, f"{scene} Speech: {speech}" if speech else scene
        return {
            "summary": {"brief": brief, "detailed": detailed},
            "action": {"brief": NA, "detailed": NA, "actor": NA},
        }

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        out = []
        for r in requests:
            text = json.dumps(self.answer(r))
            out.append(Generation(text, Usage(0, len(text.split())), "stop"))
        return out

    def close(self) -> None:
        pass


class FramesOpinionBaseline(_OpinionBaseline):
    """Leads with what the frames show (colour, light, motion), then the speech."""

    backend = "opinion-frames"
    lead = "frames"


class TranscriptOpinionBaseline(_OpinionBaseline):
    """Leads with the speech overlapping the span, then what the frames show."""

    backend = "opinion-transcript"
    lead = "transcript"
