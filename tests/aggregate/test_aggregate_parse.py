"""Model answers → validated annotations: extraction, N/A, repair turn, failure."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from actionlens.annotations import NA, converse, parse_annotation
from actionlens.models import ChatRequest, Generation, Usage, user

GOOD = {
    "summary": {
        "brief": "A cook whisks eggs in a red bowl.",
        "detailed": "A cook cracks eggs and whisks.",
    },
    "action": {"brief": "whisk eggs", "detailed": "Whisk the eggs with a fork.", "actor": "a cook"},
}


def test_plain_json_parses():
    parsed = parse_annotation(json.dumps(GOOD))
    assert parsed.ok and parsed.annotation.action.actor == "a cook"


def test_json_in_a_code_fence_after_reasoning_parses():
    text = (
        "Let me think. The captions agree on {eggs}.\n```json\n" + json.dumps(GOOD) + "\n```\nDone."
    )
    assert parse_annotation(text).annotation.summary.brief.startswith("A cook")


def test_think_blocks_and_drafts_before_the_answer_are_skipped():
    draft = dict(GOOD, summary={"brief": "draft", "detailed": "draft"})
    text = f"<think>{json.dumps(draft)}</think> first {json.dumps(draft)} final: {json.dumps(GOOD)}"
    assert parse_annotation(text).annotation.summary.brief.startswith("A cook")


def test_extra_fields_are_ignored():
    assert parse_annotation(json.dumps({**GOOD, "confidence": 0.9, "notes": "x"})).ok


@pytest.mark.parametrize("value", ["n/a", "NA", None, "", "none"])
def test_na_spellings_normalise_and_make_every_action_field_na(value):
    data = {**GOOD, "action": {"brief": value, "detailed": "Whisk.", "actor": "a cook"}}
    action = parse_annotation(json.dumps(data)).annotation.action
    assert (action.brief, action.detailed, action.actor) == (NA, NA, NA)


def test_action_given_as_na_string_is_all_na():
    assert parse_annotation(json.dumps({**GOOD, "action": "N/A"})).annotation.action.is_na


def test_text_that_is_not_json_is_rejected():
    parsed = parse_annotation("The video shows a cook whisking eggs.")
    assert not parsed.ok and "no complete JSON" in parsed.error


def test_missing_fields_are_named():
    parsed = parse_annotation(json.dumps({"summary": {"brief": "x"}, "action": GOOD["action"]}))
    assert not parsed.ok and "summary.detailed" in parsed.error


def test_answer_cut_off_at_the_token_limit_is_rejected_and_says_so():
    parsed = parse_annotation(json.dumps(GOOD)[:-20], finish_reason="length")
    assert not parsed.ok and "cut off" in parsed.error


def test_empty_answer_is_rejected():
    assert parse_annotation("  ").error == "the answer was empty"


def test_na_summary_is_invalid():
    assert not parse_annotation(
        json.dumps({**GOOD, "summary": {"brief": "N/A", "detailed": "N/A"}})
    ).ok


class Scripted:
    """A model that answers each conversation from a list of texts, turn by turn."""

    backend, model_id, baseline = "scripted", "scripted-1", False

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.calls: list[list[ChatRequest]] = []

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            key = r.context["key"]
            turn = sum(1 for m in r.messages if m.role == "assistant")
            text = self.answers[key][min(turn, len(self.answers[key]) - 1)]
            if text == "!error":
                out.append(Generation("", finish_reason="error", error="HTTP 503"))
            else:
                out.append(Generation(text, Usage(10, 5), "stop"))
        return out

    def close(self) -> None:
        pass


def first(key: str) -> ChatRequest:
    return ChatRequest([user("annotate")], 64, {"key": key})


def test_three_rounds_then_repair_then_failure_each_item_on_its_own():
    good = json.dumps(GOOD)
    model = Scripted(
        {
            "fine": ["draft", "better", good],
            "repaired": ["draft", "better", "still prose", good],
            "hopeless": ["a", "b", "c", "d"],
            "down": ["draft", "!error"],
        }
    )
    fine, repaired, hopeless, down = converse(
        model, [first(k) for k in ("fine", "repaired", "hopeless", "down")], ["revise", "revise"]
    )
    assert (fine.status, fine.rounds, fine.repaired) == ("ok", 3, False)
    assert fine.usage == Usage(30, 15)
    assert [m.role for m in fine.transcript] == ["user", "assistant"] * 3
    assert (repaired.status, repaired.rounds, repaired.repaired) == ("ok", 4, True)
    assert "no complete JSON" in repaired.transcript[-2].text()
    assert (hopeless.status, hopeless.raw) == ("invalid", "d")
    assert "no complete JSON" in hopeless.error
    assert down.status == "error" and down.error == "HTTP 503" and down.rounds == 1
    # One batch per turn: draft, two revisions, one repair.
    assert [len(c) for c in model.calls] == [4, 4, 3, 2]


def test_a_single_turn_with_another_schema_uses_the_same_rules():
    from pydantic import BaseModel

    class Label(BaseModel):
        label: str

    model = Scripted({"x": ["prose first", '{"label": "cooking"}']})
    [outcome] = converse(model, [first("x")], schema=Label, schema_text='{"label": "<category>"}')
    assert outcome.status == "ok" and outcome.annotation.label == "cooking" and outcome.repaired
    assert '{"label": "<category>"}' in outcome.transcript[-2].text()
