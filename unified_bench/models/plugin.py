"""Third-party adapters: ``py:package.module:factory`` specs and entry-point schemes.

Why: a new model family should not need a change to this package. Two ways in:

* ``--model py:my_pkg.adapters:build`` imports ``build`` and calls ``build(runtime)``, where
  ``runtime`` is the resolved :class:`unified_bench.specs.RuntimeOptions` (device, dtype, batch
  size, seed). The factory returns a :class:`unified_bench.models.base.ModelAdapter`.
* A package declares an entry point in the group ``unified_bench.adapters`` (see
  ``unified_bench.specs.ADAPTER_ENTRY_POINT_GROUP``), e.g. ``mymodels = "my_pkg:load"``; then
  ``--model mymodels:some/target`` calls ``load("some/target", runtime)``.

Either way the result must be a ``ModelAdapter`` whose ``identity()`` returns a
``ModelIdentity`` (it is part of every cache key); anything else is a ``SpecError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from unified_bench.errors import SpecError
from unified_bench.models.base import ModelAdapter, ModelIdentity
from unified_bench.registry import import_attr
from unified_bench.specs import ADAPTER_ENTRY_POINT_GROUP, ModelSpec, RuntimeOptions

#: What a ``py:`` factory looks like.
PyFactory = Callable[[RuntimeOptions], ModelAdapter]
#: What an entry-point factory looks like.
EntryPointFactory = Callable[[str, RuntimeOptions], ModelAdapter]


def _positional_arity(factory: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return None
    return sum(
        1 for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.default is inspect.Parameter.empty
    )


def _checked(adapter: Any, where: str) -> ModelAdapter:
    if not isinstance(adapter, ModelAdapter):
        raise SpecError(
            f"Model factory {where} returned {type(adapter).__name__}, not a ModelAdapter.",
            "Return an instance of a subclass of unified_bench.models.base.ModelAdapter.",
        )
    try:
        identity = adapter.identity()
    except NotImplementedError as exc:
        raise SpecError(
            f"The adapter from {where} ({type(adapter).__name__}) does not implement identity().",
            "Implement identity() returning a ModelIdentity naming the checkpoint and its revision.",
        ) from exc
    if not isinstance(identity, ModelIdentity):
        raise SpecError(
            f"{type(adapter).__name__}.identity() from {where} returned {type(identity).__name__}.",
            "Return a unified_bench.models.base.ModelIdentity.",
        )
    return adapter


def load_py_plugin(spec: ModelSpec, runtime: RuntimeOptions) -> ModelAdapter:
    """``py:package.module:factory`` -> ``factory(runtime)`` (``factory(target, runtime)`` also accepted)."""
    factory = import_attr(spec.target)
    if not callable(factory):
        raise SpecError(f"'{spec.target}' is not callable.", "Point py: at a factory function or class.")
    resolved = runtime.resolved()
    adapter = factory(spec.target, resolved) if _positional_arity(factory) == 2 else factory(resolved)
    return _checked(adapter, f"'{spec.target}'")


def load_entry_point(spec: ModelSpec, runtime: RuntimeOptions) -> ModelAdapter:
    """``SCHEME:target`` where SCHEME is an entry point in ``unified_bench.adapters``."""
    from importlib.metadata import entry_points

    matches = [ep for ep in entry_points(group=ADAPTER_ENTRY_POINT_GROUP) if ep.name == spec.scheme]
    if not matches:
        raise SpecError(
            f"No installed package provides the model scheme '{spec.scheme}'.",
            f"Install the plugin package that declares it in the '{ADAPTER_ENTRY_POINT_GROUP}' "
            "entry-point group, or use hf:, a directory, or py:module:factory.",
        )
    ep = matches[0]
    try:
        factory = ep.load()
    except ImportError as exc:
        raise SpecError(
            f"The plugin for scheme '{spec.scheme}' ({ep.value}) failed to import: {exc}.",
            "Reinstall the plugin package or its dependencies.",
        ) from exc
    adapter = factory(spec.target, runtime.resolved())
    return _checked(adapter, f"entry point '{spec.scheme}' ({ep.value})")
