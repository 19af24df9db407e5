"""Weight-free CPU stand-ins for the embedded default. They are baselines, never models:
their model ids end in `-baseline` and every output records `baseline: true`.

They answer the same ChatRequests as real models, from the plain facts in
`request.context`, so the stages run the same code path with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from actionlens.models.base import ChatRequest, Generation, Usage
from actionlens.settings import ModelSettings, ModelSpec

NA = "N/A"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def overlapping_text(segments: Sequence[dict], start: float, end: float) -> str:
    """The ASR text of every segment overlapping [start, end], in time order."""
    picked = [
        s
        for s in segments
        if float(s["start"]) < end and float(s["end"]) > start and str(s.get("text", "")).strip()
    ]
    picked.sort(key=lambda s: float(s["start"]))
    return " ".join(str(s["text"]).strip() for s in picked)


def _words(text: str) -> int:
    return len(text.split())


class TranscriptCaptioner:
    """Captions a span with the ASR text that overlaps it (context: span, transcript)."""

    backend = "transcript"
    baseline = True
    needs_gpu = False
    needs_frames = False  # it reads no pixels, so stages skip decoding for it

    def __init__(self, spec: ModelSpec, models: ModelSettings | None = None):
        self.model_id = spec.model_id

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        out = []
        for r in requests:
            start, end = r.context.get("span", (0.0, 0.0))
            text = overlapping_text(r.context.get("transcript") or [], float(start), float(end))
            words = text.split()[: r.max_new_tokens]
            out.append(Generation(" ".join(words), Usage(0, len(words)), "stop"))
        return out

    def close(self) -> None:
        pass


def first_sentence(text: str) -> str:
    return _SENTENCE.split(text.strip(), maxsplit=1)[0] if text.strip() else ""


def extractive_annotation(captions: Sequence[str], max_detailed_words: int = 120) -> dict:
    """Fields composed from captions (the node's own first, then its subtree's in time
    order): brief = the first sentence, detailed = distinct sentences up to a word budget.
    A baseline cannot see actors, so the action fields are "N/A"."""
    texts = [c.strip() for c in captions if c and c.strip()]
    if not texts:
        brief = detailed = "No caption text is available for this segment."
    else:
        brief = first_sentence(texts[0])
        seen, kept, words = set(), [], 0
        for text in texts:
            for sentence in _SENTENCE.split(text):
                key = sentence.lower().strip()
                if not key or key in seen:
                    continue
                if words + _words(sentence) > max_detailed_words and kept:
                    break
                seen.add(key)
                kept.append(sentence.strip())
                words += _words(sentence)
        detailed = " ".join(kept)
    return {
        "summary": {"brief": brief, "detailed": detailed},
        "action": {"brief": NA, "detailed": NA, "actor": NA},
    }


class ExtractiveAggregator:
    """Answers every turn of a conversation with the same extractive JSON
    (context: captions)."""

    backend = "extractive"
    baseline = True
    needs_gpu = False
    needs_frames = False

    def __init__(self, spec: ModelSpec, models: ModelSettings | None = None):
        self.model_id = spec.model_id

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        out = []
        for r in requests:
            text = json.dumps(extractive_annotation(r.context.get("captions") or []))
            out.append(Generation(text, Usage(0, _words(text)), "stop"))
        return out

    def close(self) -> None:
        pass
