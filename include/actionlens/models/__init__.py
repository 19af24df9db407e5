"""Model runtime: one chat protocol for VLMs and LLMs, backends registered by name."""

from actionlens.models.base import (
    ChatModel,
    ChatRequest,
    Generation,
    Image,
    Message,
    Usage,
    Video,
    assistant,
    system,
    user,
)
from actionlens.models.registry import BACKENDS, load_model, register, source_key

__all__ = [
    "BACKENDS",
    "ChatModel",
    "ChatRequest",
    "Generation",
    "Image",
    "Message",
    "Usage",
    "Video",
    "assistant",
    "load_model",
    "register",
    "source_key",
    "system",
    "user",
]
