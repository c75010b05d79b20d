"""Build a captioner from its config, once per process.

Why a per-process cache: on Dask each worker process runs many shard tasks. Loading a
multi-gigabyte VLM per shard would dominate the run, so the first ``get_captioner(config)`` in a
worker loads the model and every later call with an equal config returns the same instance.
The config itself is what travels to the worker (it is small and picklable); the model never is.
The cache key is the config's full content, so two recipes that differ in any field (prompt,
revision, decoding, endpoint) get separate captioners.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict

from .base import Captioner, CaptionerConfig
from .errors import CaptionerError

_CACHE: dict[str, Captioner] = {}
_LOCK = threading.Lock()  # Dask workers may run several tasks in threads: load once, not once per thread


def config_key(config: CaptionerConfig) -> str:
    """A stable key for a config (``extra`` is a dict, so the frozen dataclass itself is unhashable)."""
    return json.dumps(asdict(config), sort_keys=True, default=repr)


def _build(config: CaptionerConfig) -> Captioner:
    if config.backend == "transformers":
        from .transformers_vlm import TransformersCaptioner

        return TransformersCaptioner(config)
    if config.backend == "openai":
        from .openai_compat import OpenAICompatCaptioner

        return OpenAICompatCaptioner(config)
    raise CaptionerError(
        f"Unknown captioner backend {config.backend!r}.",
        "use backend='transformers' (local model) or backend='openai' (OpenAI-compatible server)",
    )


def get_captioner(config: CaptionerConfig) -> Captioner:
    """The process-wide captioner for ``config``, built on first use."""
    key = config_key(config)
    with _LOCK:
        captioner = _CACHE.get(key)
        if captioner is None:
            captioner = _build(config)
            _CACHE[key] = captioner
        return captioner


def clear_captioner_cache() -> None:
    """Drop cached captioners (frees their models once nothing else holds them); for tests and notebooks."""
    with _LOCK:
        _CACHE.clear()
