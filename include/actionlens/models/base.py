"""The one protocol every vision-language or language model backend speaks.

A request is a chat (system/user/assistant messages whose content mixes text, images and
videos given as frames); a generation is the text, the token usage and why it stopped.
Backends take a batch of requests at once, so each can batch or overlap them its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, eq=False)
class Image:
    """One RGB frame, uint8 (height, width, 3)."""

    pixels: np.ndarray
    time: float | None = None  # seconds into the video, when it is a frame of one


@dataclass(frozen=True, eq=False)
class Video:
    """Frames sampled from a span, uint8 (frames, height, width, 3), with their times."""

    frames: np.ndarray
    times: tuple[float, ...] = ()

    @property
    def fps(self) -> float:
        """Sampled frames per second of the span (what the model is told)."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 1.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


Part = str | Image | Video


@dataclass
class Message:
    role: Role
    content: list[Part] | str

    def parts(self) -> list[Part]:
        return [self.content] if isinstance(self.content, str) else list(self.content)

    def text(self) -> str:
        return "".join(p for p in self.parts() if isinstance(p, str))


@dataclass
class ChatRequest:
    """One conversation to continue. `context` carries plain facts (span, transcript,
    captions) that weight-free baselines answer from; real models ignore it."""

    messages: list[Message]
    max_new_tokens: int = 1024
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass
class Generation:
    """What a model answered. `error` is set (and `text` empty) when no answer came."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None  # "stop" | "length" | "error" | backend-specific
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class ChatModel(Protocol):
    """A loaded model; `generate` answers every request, in order, never raising for one
    bad request (its Generation carries the error instead)."""

    backend: str  # the registry name the settings chose
    model_id: str
    baseline: bool  # True for weight-free stand-ins, recorded with every output
    needs_gpu: bool  # runs best on an accelerator in its own pod (declared on the class)
    needs_frames: bool  # reads pixels: stages decode frames only for these

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]: ...

    def close(self) -> None: ...


def user(*parts: Part) -> Message:
    return Message("user", list(parts))


def assistant(text: str) -> Message:
    return Message("assistant", text)


def system(text: str) -> Message:
    return Message("system", text)
