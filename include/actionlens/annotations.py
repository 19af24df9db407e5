"""The stage-3 annotation schema and how a model's answer becomes one.

Shared by stage 3 (`aggregate`) and the second opinions: JSON is extracted from the raw
text (code fences, reasoning before it, <think> blocks), validated, "N/A" normalised; an
invalid answer gets one repair turn; `converse` runs any number of follow-up turns of
the same conversation for a batch of items at once.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from actionlens.models.base import (
    ChatModel,
    ChatRequest,
    Generation,
    Message,
    Usage,
    assistant,
    user,
)

NA = "N/A"
_NA_SPELLINGS = {"n/a", "na", "n.a.", "none", "null", "not applicable", "-", ""}


def normalise_na(value: Any) -> str:
    if value is None:
        return NA
    text = str(value).strip()
    return NA if text.lower() in _NA_SPELLINGS else text


class Summary(BaseModel):
    model_config = ConfigDict(extra="ignore")
    brief: str
    detailed: str

    @field_validator("brief", "detailed", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if not isinstance(value, str) or normalise_na(value) == NA:
            raise ValueError("must be a non-empty description of what is seen")
        return value.strip()


class Action(BaseModel):
    model_config = ConfigDict(extra="ignore")
    brief: str = NA
    detailed: str = NA
    actor: str = NA

    @field_validator("brief", "detailed", "actor", mode="before")
    @classmethod
    def _na(cls, value: Any) -> str:
        if value is not None and not isinstance(value, str):
            raise ValueError('must be a string or "N/A"')
        return normalise_na(value)

    @model_validator(mode="after")
    def _all_or_nothing(self) -> Action:
        # No action or no actor means no action at all: every field "N/A".
        if NA in (self.brief, self.detailed):
            self.brief = self.detailed = self.actor = NA
        return self

    @property
    def is_na(self) -> bool:
        return self.brief == NA


class Annotation(BaseModel):
    """summary {brief, detailed}, action {brief, detailed, actor}."""

    model_config = ConfigDict(extra="ignore")
    summary: Summary
    action: Action

    @field_validator("action", mode="before")
    @classmethod
    def _action_na(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and normalise_na(value) == NA):
            return {}
        return value


SCHEMA_TEXT = """{
  "summary": {"brief": "<one-sentence caption>", "detailed": "<comprehensive description>"},
  "action": {"brief": "<one verb phrase, no -ing form>",
             "detailed": "<one imperative sentence on how the action is done>",
             "actor": "<who performs it>"}
}"""

# What each field means, told to every model that writes an annotation (stage 3 and the
# second opinions), so that their answers are comparable field by field.
FIELD_GUIDE = """About the fields:
- summary.brief: one sentence that captions the segment.
- summary.detailed: a complete description of what is seen in the segment, in order.
- action.brief: the main physical action as one short verb phrase, verb in the base form \
("whisk eggs", not "whisking eggs").
- action.detailed: one sentence in the imperative that says how the action is done \
("Whisk the eggs in a bowl with a fork until smooth.").
- action.actor: who performs the action ("a man in a blue shirt", "a pair of hands").
- If no actor is visible or no physical action happens, set all three action fields to "N/A".
"""

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def json_candidates(text: str) -> list[Any]:
    """Every JSON object in `text`, best guess first: fenced blocks (last first), then
    bare objects scanned from the end (the answer usually follows the reasoning)."""
    text = _THINK.sub("", text)
    found: list[Any] = []
    for block in reversed(_FENCE.findall(text)):
        with contextlib.suppress(json.JSONDecodeError):
            found.append(json.loads(block.strip()))
    decoder = json.JSONDecoder()
    bare: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        bare.append(obj)
        i = text.find("{", end)
    found += reversed(bare)
    return [c for c in found if isinstance(c, dict)]


@dataclass
class Parsed:
    annotation: Any  # an instance of the schema (Annotation by default) or None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.annotation is not None


def parse_annotation(
    text: str, finish_reason: str | None = None, schema: type[BaseModel] = Annotation
) -> Parsed:
    """The annotation (an instance of `schema`) in a model's answer, or a sentence saying
    why there is none."""
    if not text or not text.strip():
        return Parsed(None, "the answer was empty")
    cut = " (it was cut off at the token limit: be brief)" if finish_reason == "length" else ""
    candidates = json_candidates(text)
    if not candidates:
        return Parsed(None, f"the answer contains no complete JSON object{cut}")
    first_error = None
    for candidate in candidates:
        try:
            return Parsed(schema.model_validate(candidate), None)
        except ValidationError as exc:
            if first_error is None:
                first_error = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}"
                    for e in exc.errors()
                )
    return Parsed(None, f"the JSON does not match the schema ({first_error}){cut}")


def repair_prompt(error: str, schema_text: str = SCHEMA_TEXT) -> str:
    return (
        f"Your last answer could not be used: {error}. Reply again with only the final JSON "
        f"object, no other text, exactly in this shape:\n{schema_text}"
    )


@dataclass
class Outcome:
    """One item's conversation: final annotation or failure, with everything to audit it."""

    annotation: Any = None  # an instance of the schema when status is "ok"
    status: str = "pending"  # "ok" | "invalid" (still bad after repair) | "error" (no answer)
    error: str | None = None
    raw: str = ""  # the last answer's text
    rounds: int = 0  # assistant turns answered (draft + revisions + repair)
    repaired: bool = False
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    transcript: list[Message] = field(default_factory=list)
    seconds: float = 0.0

    def document(
        self, model: ChatModel, *, prompt_hash: str, version: str, now: Any, **facts: Any
    ) -> dict[str, Any]:
        """What a stage stores for this item under `annotations.<source>`: the answer's
        fields when ok, the raw text otherwise, and the model, prompt, usage and
        stage-specific `facts` to audit and re-run it."""
        doc: dict[str, Any] = {
            "status": self.status,
            "error": self.error,
            "model_id": model.model_id,
            "backend": model.backend,
            "baseline": model.baseline,
            "prompt_hash": prompt_hash,
            "version": version,
            "rounds": self.rounds,
            "repaired": self.repaired,
            "usage": self.usage.as_dict(),
            **facts,
            "seconds": round(self.seconds, 3),
            "updated_at": now,
        }
        if self.annotation is not None:
            doc.update(self.annotation.model_dump())
        else:
            doc["raw"] = self.raw  # kept so a failure can be read and the prompt fixed
        return doc


# field name → path inside an annotation {summary: {brief, detailed}, action: {…}}
FIELDS: dict[str, tuple[str, str]] = {
    "summary_brief": ("summary", "brief"),
    "summary_detailed": ("summary", "detailed"),
    "action_brief": ("action", "brief"),
    "action_detailed": ("action", "detailed"),
    "action_actor": ("action", "actor"),
}


def field_text(annotation: dict, field: str) -> str:
    group, key = FIELDS[field]
    value = (annotation.get(group) or {}).get(key)
    return "" if value is None else str(value)


def usable(annotation: dict | None) -> bool:
    """An annotation with answers; a failed opinion (status "failed", only its raw text)
    is absent, not a disagreement."""
    return (
        bool(annotation)
        and annotation.get("status") != "failed"
        and ("summary" in annotation or "action" in annotation)
    )


def answer_counts() -> dict[str, Any]:
    """A video's tally of answers: nodes asked, how the answers came out, tokens used."""
    return {
        "asked": 0,
        "ok": 0,
        "invalid": 0,
        "errors": 0,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }


def tally(counts: dict[str, Any], outcome: Outcome) -> None:
    """Count one conversation's outcome into `counts` (see answer_counts)."""
    counts["asked"] += 1
    counts["ok"] += outcome.status == "ok"
    counts["invalid"] += outcome.status == "invalid"
    counts["errors"] += outcome.status == "error"
    counts["usage"]["prompt_tokens"] += outcome.usage.prompt_tokens
    counts["usage"]["completion_tokens"] += outcome.usage.completion_tokens


def converse(
    model: ChatModel,
    first: Sequence[ChatRequest],
    follow_ups: Sequence[str] = (),
    *,
    schema: type[BaseModel] = Annotation,
    schema_text: str = SCHEMA_TEXT,
) -> list[Outcome]:
    """Run every conversation to its end: the first turn, each follow-up as a new user
    turn of the same conversation, then one repair turn where the final answer does not
    parse. Items advance together, one batch of requests per turn. With no follow-ups
    this is a single answer plus the repair rule (second opinions)."""
    outcomes = [Outcome(transcript=list(r.messages)) for r in first]
    live = list(range(len(first)))

    def turn(items: list[int], prompts: list[str] | None) -> None:
        requests = []
        for k, i in enumerate(items):
            if prompts is not None:
                outcomes[i].transcript.append(user(prompts[k]))
            requests.append(
                ChatRequest(list(outcomes[i].transcript), first[i].max_new_tokens, first[i].context)
            )
        for i, gen in zip(items, model.generate(requests), strict=True):
            _record(outcomes[i], gen)

    turn(live, None)
    for prompt in follow_ups:
        live = [i for i in live if outcomes[i].status != "error"]
        if live:
            turn(live, [prompt] * len(live))
    live = [i for i in live if outcomes[i].status != "error"]
    to_repair = []
    for i in live:
        o = outcomes[i]
        parsed = parse_annotation(o.raw, o.finish_reason, schema)
        if parsed.ok:
            o.annotation, o.status, o.error = parsed.annotation, "ok", None
        else:
            o.error = parsed.error
            to_repair.append(i)
    if to_repair:
        turn(to_repair, [repair_prompt(outcomes[i].error or "", schema_text) for i in to_repair])
        for i in to_repair:
            o = outcomes[i]
            o.repaired = True
            if o.status == "error":
                continue
            parsed = parse_annotation(o.raw, o.finish_reason, schema)
            o.annotation, o.status, o.error = (
                (parsed.annotation, "ok", None) if parsed.ok else (None, "invalid", parsed.error)
            )
    return outcomes


def _record(outcome: Outcome, gen: Generation) -> None:
    outcome.usage = outcome.usage + gen.usage
    outcome.seconds += gen.seconds
    if not gen.ok:
        outcome.status, outcome.error = "error", gen.error
        return
    outcome.rounds += 1
    outcome.raw = gen.text
    outcome.finish_reason = gen.finish_reason
    outcome.transcript.append(assistant(gen.text))
