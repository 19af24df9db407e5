"""Weight-free baselines: named as baselines, deterministic, answering from context."""

from __future__ import annotations

import json

from actionlens.models import ChatRequest, load_model, user
from actionlens.settings import ModelSettings

SEGMENTS = [
    {"start": 0.0, "end": 2.0, "text": "first we crack eggs"},
    {"start": 2.0, "end": 5.0, "text": "then whisk them"},
    {"start": 5.0, "end": 9.0, "text": "now pour the batter"},
]


def test_transcript_captioner_uses_the_asr_text_overlapping_the_span():
    model = load_model(ModelSettings().captioner, ModelSettings())
    assert model.baseline and model.model_id.endswith("baseline")
    req = ChatRequest([user("describe")], context={"span": (1.5, 5.5), "transcript": SEGMENTS})
    [gen] = model.generate([req])
    assert gen.text == "first we crack eggs then whisk them now pour the batter"
    [empty] = model.generate(
        [ChatRequest([user("x")], context={"span": (20, 30), "transcript": SEGMENTS})]
    )
    assert empty.text == "" and empty.ok


def test_extractive_aggregator_answers_schema_json_from_captions():
    model = load_model(ModelSettings().aggregator, ModelSettings())
    assert model.baseline
    req = ChatRequest(
        [user("x")],
        context={"captions": ["A cook whisks eggs. The bowl is red.", "The bowl is red."]},
    )
    [gen] = model.generate([req])
    data = json.loads(gen.text)
    assert data["summary"]["brief"] == "A cook whisks eggs."
    assert data["summary"]["detailed"] == "A cook whisks eggs. The bowl is red."
    assert data["action"] == {"brief": "N/A", "detailed": "N/A", "actor": "N/A"}
