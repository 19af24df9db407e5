"""Backends of one kind by name, like transformers' lazy Auto* mappings.

Each kind (chat models, frame embedders, lenses, text encoders) has one `Registry`: a
static table `name → "module:Class"`, imported on first use, so choosing a CPU baseline
never imports torch. Capabilities (`needs_gpu`, `needs_frames`) are class attributes, read
without building the backend. `register()` is for extensions outside the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from actionlens.errors import ConfigurationError

CAPABILITIES = ("needs_gpu", "needs_frames")


class Registry(Mapping[str, type]):
    """`name → class` for one kind of backend; the table holds `"module:Class"` strings."""

    def __init__(
        self,
        kind: str,
        table: Mapping[str, str],
        *,
        setting: str,
        aliases: Mapping[str, str] | None = None,
    ):
        self.kind = kind  # "chat model backend", "lens backend", ...
        self.setting = setting  # where a user chooses one, named in the error text
        self._table: dict[str, str | type] = dict(table)
        self.aliases = dict(aliases or {})  # old name → name (kept for existing settings)
        self._loaded: dict[str, type] = {}

    def register(self, name: str, target: str | type) -> None:
        """Add a backend (a class or its "module:Class" path) under `name`."""
        self._table[name] = target
        self._loaded.pop(name, None)

    def canonical(self, name: str) -> str:
        """`name` with an alias resolved; unknown names raise the one error of this kind."""
        name = self.aliases.get(name, name)
        if name not in self._table:
            raise ConfigurationError(self.unknown(name))
        return name

    def unknown(self, name: str) -> str:
        """The one error text of every registry: the setting, the name, the known names."""
        known = ", ".join(sorted(self._table))
        aliases = ", ".join(f"{a} for {n}" for a, n in sorted(self.aliases.items()))
        return f"{self.setting}={name!r} is not a registered {self.kind}; known: {known}" + (
            f" (also accepted: {aliases})" if aliases else ""
        )

    def __getitem__(self, name: str) -> type:
        name = self.canonical(name)
        if name not in self._loaded:
            target = self._table[name]
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                target = getattr(importlib.import_module(module), attr)
            missing = [c for c in CAPABILITIES if not isinstance(getattr(target, c, None), bool)]
            if missing:
                raise ConfigurationError(
                    f"{self.kind} {name!r} ({target.__qualname__}) does not declare {missing}"
                )
            self._loaded[name] = target
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.aliases.get(name, name) in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._table))

    def __len__(self) -> int:
        return len(self._table)

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build the backend called `name` (an alias builds its target)."""
        return self[name](*args, **kwargs)

    def needs(self, name: str, capability: str) -> bool:
        """A declared capability of the backend `name`, read from its class."""
        if capability not in CAPABILITIES:
            raise ValueError(f"{capability!r} is not one of {CAPABILITIES}")
        return getattr(self[name], capability)
