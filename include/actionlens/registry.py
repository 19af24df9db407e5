"""Backends of one kind by name, like transformers' lazy Auto* mappings.

Each kind (chat models, frame embedders, lenses, text encoders) has one `Registry`: a
static table `name → "module:Class"`, imported on first use, so choosing a CPU baseline
never imports torch. Capabilities (`needs_gpu`, `needs_frames`) are class attributes, read
without building the backend. A table entry may also declare them (`Backend`, like a
FiftyOne zoo manifest's `requirements.gpu`), so the scheduler reads them while it parses a
DAG without importing the backend's module; loading the class checks both agree.
`register()` is for extensions outside the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from actionlens.errors import ConfigurationError

CAPABILITIES = ("needs_gpu", "needs_frames")


class Backend(NamedTuple):
    """A table entry that declares its class's capabilities (read without importing it)."""

    target: str  # "module:Class"
    needs_gpu: bool
    needs_frames: bool


class Registry(Mapping[str, type]):
    """`name → class` for one kind of backend; the table holds `"module:Class"` strings."""

    def __init__(
        self,
        kind: str,
        table: Mapping[str, str | Backend],
        *,
        setting: str,
        aliases: Mapping[str, str] | None = None,
    ):
        self.kind = kind  # "chat model backend", "lens backend", ...
        self.setting = setting  # where a user chooses one, named in the error text
        self._table: dict[str, str | Backend | type] = dict(table)
        self.aliases = dict(aliases or {})  # old name → name (kept for existing settings)
        self._loaded: dict[str, type] = {}

    def register(self, name: str, target: str | Backend | type) -> None:
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
            entry = target = self._table[name]
            if isinstance(target, Backend):
                target = target.target
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                target = getattr(importlib.import_module(module), attr)
            missing = [c for c in CAPABILITIES if not isinstance(getattr(target, c, None), bool)]
            if missing:
                raise ConfigurationError(
                    f"{self.kind} {name!r} ({target.__qualname__}) does not declare {missing}"
                )
            if isinstance(entry, Backend):
                differ = {
                    c: getattr(entry, c)
                    for c in CAPABILITIES
                    if getattr(target, c) != getattr(entry, c)
                }
                if differ:
                    raise ConfigurationError(
                        f"{self.kind} {name!r}: the registry table declares {differ} but "
                        f"{target.__qualname__} declares otherwise; make them agree"
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
        """A declared capability of the backend `name`: from its table entry when it
        declares one (no import), else from its class."""
        if capability not in CAPABILITIES:
            raise ValueError(f"{capability!r} is not one of {CAPABILITIES}")
        entry = self._table[self.canonical(name)]
        if isinstance(entry, Backend):  # checked against the class when it is loaded
            return getattr(entry, capability)
        return getattr(self[name], capability)
