"""A generic registry of named, lazily imported components.

Why: tasks, adapters, encoders and image sets are looked up by name from the CLI. Entries are
``"module:attr"`` strings so that listing or validating names never imports torch, and a
misspelt name gets "Did you mean ...? Available: ..." instead of a KeyError.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from unified_bench.errors import SpecError

T = TypeVar("T")


def import_attr(target: str) -> Any:
    """Import ``"package.module:attr"`` (attr may be dotted)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SpecError(
            f"'{target}' is not of the form 'package.module:attribute'.",
            "Write the import path with a colon before the attribute, e.g. 'my_pkg.adapters:build'.",
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            f"Cannot import module '{module_name}' ({exc}).",
            "Check the module path and that its package is installed in this environment.",
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise SpecError(
                f"Module '{module_name}' has no attribute '{attr}'.",
                "Check the attribute name after the colon.",
            ) from exc
    return obj


class Registry(Generic[T]):
    """Name -> lazily imported object, with helpful unknown-name errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        if name in self._entries and self._entries[name] != target:
            raise ValueError(f"{self.kind} '{name}' is already registered as {self._entries[name]}")
        self._entries[name] = target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def target(self, name: str) -> str:
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def get(self, name: str) -> T:
        return import_attr(self.target(name))

    def unknown(self, name: str) -> SpecError:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        return SpecError(
            f"Unknown {self.kind} '{name}'.",
            f"{hint}Available: {', '.join(self.names()) or '(none)'}.",
        )
