"""``load_model(spec, runtime)``: from a parsed ``--model`` value to a ready ``ModelAdapter``.

Why: the CLI, the runner and the tests all load models through this one function, so a hub
checkpoint and a tiny test checkpoint saved to a directory take the same path. The adapter is
chosen from the checkpoint itself (``config.json``'s ``model_type`` or a diffusers
``model_index.json``) through a registry of lazy ``"module:attr"`` entries, so listing the
supported architectures never imports torch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from unified_bench.errors import SpecError
from unified_bench.models.base import ModelAdapter
from unified_bench.registry import Registry
from unified_bench.specs import ModelSpec, RuntimeOptions

logger = logging.getLogger(__name__)

#: Dispatch key -> adapter class. Keys are transformers ``model_type`` values, plus
#: "diffusers" (any pipeline directory) and "image-text-to-text" (any other VLM).
ARCHITECTURES: Registry[type[ModelAdapter]] = Registry("model architecture")
ARCHITECTURES.register("janus", "unified_bench.models.janus:JanusAdapter")
ARCHITECTURES.register("emu3", "unified_bench.models.emu3:Emu3Adapter")
ARCHITECTURES.register("diffusers", "unified_bench.models.diffusers_t2i:DiffusersT2IAdapter")
ARCHITECTURES.register("image-text-to-text", "unified_bench.models.vlm:VLMAdapter")

_DEFAULT_ROLE = {"diffusers": "generation", "image-text-to-text": "understanding"}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"Cannot read '{path}' ({exc}).", "Re-download or re-save the checkpoint.") from exc


def _image_text_to_text_types() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)


def architecture_key(model_dir: str | Path) -> str:
    """Which ``ARCHITECTURES`` entry handles the checkpoint in ``model_dir``."""
    root = Path(model_dir)
    if (root / "model_index.json").is_file():
        return "diffusers"
    config_path = root / "config.json"
    if not config_path.is_file():
        raise SpecError(
            f"'{root}' has neither config.json (transformers) nor model_index.json (diffusers pipeline).",
            "Point --model at a model checkpoint directory or hub repo.",
        )
    model_type = _read_json(config_path).get("model_type")
    if model_type in ARCHITECTURES:
        return str(model_type)
    if model_type and model_type in _image_text_to_text_types():
        return "image-text-to-text"
    supported = [n for n in ARCHITECTURES.names() if n not in _DEFAULT_ROLE]
    raise SpecError(
        f"Unsupported model architecture '{model_type}' in {config_path}.",
        f"Supported: {', '.join(supported)}, any diffusers text-to-image pipeline, and any transformers "
        "model loadable with AutoModelForImageTextToText (caption/answer only). For anything else "
        "write an adapter and pass --model py:your_module:factory.",
    )


def _load_resolved(
    spec: ModelSpec, runtime: RuntimeOptions, role: str | None, defer_weights: bool = False
) -> ModelAdapter:
    from unified_bench.models.hub import resolve_model

    resolved = resolve_model(spec)
    key = architecture_key(resolved.path)
    adapter_cls = ARCHITECTURES.get(key)
    logger.info("Loading %s (%s) with %s", spec.raw, resolved.revision, adapter_cls.__name__)
    role = role or _DEFAULT_ROLE.get(key, "unified")
    if defer_weights:
        return adapter_cls(resolved, runtime, role=role, defer_weights=True)  # type: ignore[call-arg]
    return adapter_cls(resolved, runtime, role=role)


def _load(spec: ModelSpec, runtime: RuntimeOptions, role: str | None = None, defer_weights: bool = False) -> ModelAdapter:
    if spec.scheme in ("hf", "local"):
        return _load_resolved(spec, runtime, role, defer_weights)
    if spec.scheme == "composite":
        from unified_bench.models.composite import CompositeAdapter

        if len(spec.parts) != 2:
            raise SpecError(f"Composite spec '{spec.raw}' needs two parts.", "Write it as VLM+T2I.")
        # Both halves are described now (every check before work needs only that); their weights
        # load on first use and leave via ``release``, so the two never need the device at once.
        understanding = _load(spec.parts[0], runtime, "understanding", defer_weights=True)
        generation = _load(spec.parts[1], runtime, "generation", defer_weights=True)
        return CompositeAdapter(understanding, generation, spec.raw)
    if spec.scheme == "openai":
        from unified_bench.models.served import ServedAdapter

        return ServedAdapter(spec, runtime, role)
    if spec.scheme == "py":
        from unified_bench.models.plugin import load_py_plugin

        return load_py_plugin(spec, runtime)
    from unified_bench.models.plugin import load_entry_point

    return load_entry_point(spec, runtime)


def load_model(spec: ModelSpec, runtime: RuntimeOptions, *, defer_weights: bool = False) -> ModelAdapter:
    """Load the adapter for ``spec`` on ``runtime.device`` in ``runtime.dtype`` (both resolved here).

    ``defer_weights``: a local checkpoint's weights load on first use instead of now (the runner's
    copy when Dask workers do the work); served and plug-in models ignore it."""
    return _load(spec, runtime.resolved(), defer_weights=defer_weights)
