"""Backends registered by name, like transformers' Auto* classes: adding a backend is
adding a class with `@register("name")`, and settings pick it by that name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from actionlens.errors import ConfigurationError

if TYPE_CHECKING:
    from actionlens.models.base import ChatModel
    from actionlens.settings import ModelSettings, ModelSpec

# name -> module that defines it; modules are imported only when their backend is used,
# so a CPU baseline never imports torch and the HTTP client never imports transformers.
BACKEND_MODULES: dict[str, str] = {
    "openai": "actionlens.models.openai_compat",
    "transformers": "actionlens.models.qwen3vl",
    "transcript": "actionlens.models.baselines",
    "extractive": "actionlens.models.baselines",
}

Factory = Callable[["ModelSpec", "ModelSettings"], "ChatModel"]
BACKENDS: dict[str, Factory] = {}


def register(name: str, module: str | None = None):
    """Class decorator: `cls(spec, models_settings)` builds the backend called `name`."""

    def wrap(cls):
        cls.backend = name
        BACKENDS[name] = cls
        if module:
            BACKEND_MODULES.setdefault(name, module)
        return cls

    return wrap


def backend_class(name: str) -> Factory:
    if name not in BACKENDS and name in BACKEND_MODULES:
        importlib.import_module(BACKEND_MODULES[name])
    if name not in BACKENDS:
        known = ", ".join(sorted(set(BACKEND_MODULES) | set(BACKENDS)))
        raise ConfigurationError(f"model backend {name!r} is not registered (known: {known})")
    return BACKENDS[name]


def load_model(spec: ModelSpec, models: ModelSettings) -> ChatModel:
    """Build the backend `spec.backend` for `spec.model_id` with the shared settings."""
    return backend_class(spec.backend)(spec, models)


def source_key(model_id: str) -> str:
    """A MongoDB-safe field name for a model id (no dots, no slashes, no leading $)."""
    key = model_id.replace("/", "__").replace(".", "_").lstrip("$")
    if not key:
        raise ConfigurationError(f"model id {model_id!r} gives an empty source key")
    return key
