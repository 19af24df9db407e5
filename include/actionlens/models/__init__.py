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
from actionlens.models.registry import CHAT_MODELS, load_model, register, source_key

__all__ = [
    "CHAT_MODELS",
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
