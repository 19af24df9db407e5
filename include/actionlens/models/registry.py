"""Chat-model backends by name, like transformers' Auto* classes: settings pick one by its
name in `CHAT_MODELS`; its module is imported only when it is used, so a CPU baseline never
imports torch and the HTTP client never imports transformers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actionlens.backends import CHAT_MODELS  # the table (declared capabilities)
from actionlens.errors import ConfigurationError

if TYPE_CHECKING:
    from actionlens.models.base import ChatModel
    from actionlens.settings import ModelSettings, ModelSpec


def register(name: str):
    """Class decorator for a backend defined outside this package."""

    def wrap(cls):
        cls.backend = name
        CHAT_MODELS.register(name, cls)
        return cls

    return wrap


def backend_class(name: str) -> type:
    return CHAT_MODELS[name]


def load_model(spec: ModelSpec, models: ModelSettings) -> ChatModel:
    """Build the backend `spec.backend` for `spec.model_id` with the shared settings. The
    model records the name the settings chose (an alias stays as written)."""
    model = CHAT_MODELS.create(spec.backend, spec, models)
    model.backend = spec.backend
    return model


def source_key(model_id: str) -> str:
    """A MongoDB-safe field name for a model id (no dots, no slashes, no leading $)."""
    key = model_id.replace("/", "__").replace(".", "_").lstrip("$")
    if not key:
        raise ConfigurationError(f"model id {model_id!r} gives an empty source key")
    return key
