"""Weight-free opinion baselines for the embedded default. They are baselines, never
models: their model ids end in `-baseline` and every stored answer says `baseline: true`.

Each reads real input and answers the stage-3 schema as JSON, so the opinion path runs
the same parsing, repair and storage code as with a real VLM. The two see different
things, so they do not agree by construction: `opinion-frames` only the node's frames
(colours in order, light, motion; an action where something moves), `opinion-transcript`
only the ASR text overlapping its span from `request.context` (its words; its first
spoken instruction as the action).
"""

from __future__ import annotations

import json
import re
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


def colour_name(rgb: np.ndarray) -> str:
    """The palette colour nearest to an RGB triple."""
    return min(PALETTE, key=lambda n: float(np.sum((rgb - np.array(PALETTE[n])) ** 2)))


def frame_facts(video: Video | None) -> dict:
    """Dominant colour, the colours in order, brightness and motion of a node's frames."""
    if video is None or video.frames.size == 0:
        return {
            "colour": "unseen",
            "colours": [],
            "light": "unseen",
            "motion": "unknown",
            "change": 0.0,
        }
    frames = video.frames.astype(np.float32)
    mean = frames.reshape(-1, 3).mean(axis=0)
    colours: list[str] = []
    for frame in frames:
        name = colour_name(frame.reshape(-1, 3).mean(axis=0))
        if not colours or colours[-1] != name:
            colours.append(name)
    luma = float(mean @ np.array([0.299, 0.587, 0.114]))
    change = float(np.abs(np.diff(frames, axis=0)).mean() / 255.0) if len(frames) > 1 else 0.0
    light = "dark" if luma < 70 else "bright" if luma > 180 else "evenly lit"
    motion = "little" if change < 0.02 else "some" if change < 0.08 else "a lot of"
    return {
        "colour": colour_name(mean),
        "colours": colours,
        "light": light,
        "motion": motion,
        "change": round(change, 4),
    }


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _in_order(colours: Sequence[str]) -> str:
    return ", then ".join(colours) if colours else "unseen"


# Verbs the transcript baseline recognises as the start of a spoken instruction.
ACTION_VERBS = [
    "add",
    "attach",
    "beat",
    "bend",
    "boil",
    "check",
    "chop",
    "clean",
    "crack",
    "cut",
    "dig",
    "drill",
    "fill",
    "fix",
    "fold",
    "fry",
    "glue",
    "hammer",
    "heat",
    "knead",
    "lift",
    "loosen",
    "measure",
    "mix",
    "paint",
    "peel",
    "place",
    "plant",
    "pour",
    "press",
    "pull",
    "push",
    "remove",
    "replace",
    "rinse",
    "roll",
    "sand",
    "saw",
    "screw",
    "slice",
    "spread",
    "sprinkle",
    "squeeze",
    "stir",
    "strain",
    "stretch",
    "tie",
    "tighten",
    "trim",
    "turn",
    "twist",
    "unscrew",
    "wash",
    "water",
    "whisk",
    "wipe",
    "wrap",
]
_TRAILING = {"a", "an", "the", "into", "onto", "on", "in", "to", "with", "of", "over", "from"}
_CLAUSE_END = re.compile(r"[.!?;,]| and | then ")


def spoken_action(speech: str) -> dict[str, str]:
    """The first spoken instruction (a known verb and its object) as the action fields,
    "N/A" when the speech has none: a transcript shows no actor, only a speaker."""
    words = speech.split()
    for i, word in enumerate(words):
        verb = re.sub(r"[^a-z]", "", word.lower())
        if verb in ACTION_VERBS:
            clause = _CLAUSE_END.split(" ".join(words[i:]) + " ", maxsplit=1)[0].strip()
            phrase = [w.strip(".,!?;:").lower() for w in clause.split()[:4]]
            while len(phrase) > 1 and phrase[-1] in _TRAILING:
                phrase.pop()
            return {
                "brief": " ".join(phrase),
                "detailed": clause[0].upper() + clause[1:] + ".",
                "actor": "the person speaking",
            }
    return {"brief": NA, "detailed": NA, "actor": NA}


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
        if self.lead == "transcript":
            speech = overlapping_text(request.context.get("transcript") or [], start, end)
            return transcript_answer(" ".join(speech.split()[:MAX_SPEECH_WORDS]))
        return frames_answer(frame_facts(_video(request)), end - start)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        out = []
        for r in requests:
            text = json.dumps(self.answer(r))
            out.append(Generation(text, Usage(0, len(text.split())), "stop"))
        return out

    def close(self) -> None:
        pass


def frames_answer(facts: dict, seconds: float) -> dict:
    """What the frames alone show: colours in order, light and motion; an action only
    where something moves (a baseline cannot tell who moves it)."""
    brief = f"A mostly {facts['colour']} scene with {facts['motion']} motion."
    detailed = (
        f"The frames show {_article(facts['light'])} {facts['light']} picture that is "
        f"{_in_order(facts['colours'])}, "
        f"with {facts['motion']} motion over {seconds:.1f} seconds."
    )
    if facts["change"] > 0.0:
        action = {
            "brief": "move something across the frame",
            "detailed": f"Move something across the {facts['colour']} frame.",
            "actor": "someone or something out of view",
        }
    else:
        action = {"brief": NA, "detailed": NA, "actor": NA}
    return {"summary": {"brief": brief, "detailed": detailed}, "action": action}


def transcript_answer(speech: str) -> dict:
    """What the speech alone says: its first sentence, its words, its first instruction."""
    if not speech.strip():
        silent = "No speech is heard in this segment."
        return {
            "summary": {"brief": silent, "detailed": silent},
            "action": {"brief": NA, "detailed": NA, "actor": NA},
        }
    return {
        "summary": {"brief": first_sentence(speech), "detailed": speech},
        "action": spoken_action(speech),
    }


class FramesOpinionBaseline(_OpinionBaseline):
    """Answers from the frames alone (colours, light, motion)."""

    backend = "opinion-frames"
    lead = "frames"


class TranscriptOpinionBaseline(_OpinionBaseline):
    """Answers from the speech overlapping the span alone."""

    backend = "opinion-transcript"
    lead = "transcript"
