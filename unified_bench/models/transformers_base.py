"""What every adapter around one transformers checkpoint does the same way: load, identify, release.

Why a base class: Janus, Emu3 and the generic image-text-to-text adapter each loaded the model on
the runtime's device and dtype, loaded its processor, described themselves by the resolved
checkpoint, and moved the weights off the GPU on close, in three copies. Subclasses name their
model and processor classes and adjust the processor (left padding, missing pad tokens, ...).

Describing and loading are separate (``defer_weights``): everything the runner checks before any
work (identity with the model class, capabilities, native size, settings, prompt layout) comes from
``config.json`` and the processor, so a composite's halves are fully described up front while each
half's weights load on first use and leave with ``release`` once no later stage needs them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from unified_bench.errors import UnifiedBenchError
from unified_bench.models.base import Capability, ModelAdapter, ModelIdentity
from unified_bench.models.common import component, neutral_generation_config, release_memory

logger = logging.getLogger(__name__)


def load_pretrained(model_class: Any, path: Any, dtype: Any, device: str) -> Any:
    """``from_pretrained`` straight onto ``device`` in ``dtype``.

    Why: loading on the CPU in fp32 and then calling ``.to(device)`` keeps a full-precision copy of
    a 7B model in host RAM first (28 GB); ``device_map`` makes transformers materialise each
    tensor on the target device in the target dtype.
    """
    return model_class.from_pretrained(path, dtype=dtype, device_map=device)


def model_class_name(model_class: Any, config: Any) -> str:
    """The class ``model_class.from_pretrained`` builds for ``config``, without building it.

    Why: the identity (part of every cache key) names the loaded class; an auto class such as
    ``AutoModelForImageTextToText`` resolves it from the config's type, so it is known before the
    weights load and the key is the same whether they loaded eagerly or not.
    """
    mapping = getattr(model_class, "_model_mapping", None)
    if mapping is not None:
        return str(mapping[type(config)].__name__)
    return str(model_class.__name__)


class WeightsLoadError(UnifiedBenchError):
    """Deferred weights failed to load: the stage stops (not a per-item failure retried per item)."""


if TYPE_CHECKING:
    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import RuntimeOptions


class TransformersAdapter(ModelAdapter):
    """An adapter backed by one ``from_pretrained`` model + processor pair.

    ``defer_weights=False`` (a model loaded on its own) loads the weights in the constructor, as
    a user calling ``load_model`` expects; ``True`` (a composite's half) loads them on the first
    ``self.model`` access. ``release`` drops them (they reload if needed again); ``close`` drops
    them for good (``self.model`` is then an ``AttributeError``).
    """

    #: The role recorded in the identity when the loader gives none (unified, understanding, ...).
    default_role: ClassVar[str] = "unified"

    def __init__(
        self,
        resolved: ResolvedModel,
        runtime: RuntimeOptions,
        role: str | None = None,
        *,
        defer_weights: bool = False,
    ) -> None:
        from transformers import AutoConfig

        self.resolved = resolved
        self.runtime = runtime.resolved()
        self.role = role or self.default_role
        self.dtype = self.runtime.torch_dtype()
        self._model: Any = None
        self._closed = False
        #: How many times the weights were loaded (a composite's half: at most once per stage run).
        self.weights_loads = 0
        #: generation_config.json values not applied (known once the weights loaded).
        self.checkpoint_generation_defaults: dict[str, Any] = {}
        model_class, processor_class = self.classes()
        self.config = AutoConfig.from_pretrained(resolved.path)
        self._architecture = model_class_name(model_class, self.config)
        self.processor = processor_class.from_pretrained(resolved.path)
        self.prepare()
        if not defer_weights:
            self._load_weights()

    # ------------------------------------------------------------------ weights
    @property
    def model(self) -> Any:
        """The loaded model, loading its weights on first use (after ``close``: AttributeError)."""
        if self._closed:
            raise AttributeError(f"{type(self).__name__} for {self.resolved.source} is closed")
        if self._model is None:
            self._load_weights()
        return self._model

    @property
    def weights_loaded(self) -> bool:
        """Whether the weights are in memory now (for tests and logs; never loads them)."""
        return self._model is not None

    @property
    def model_config(self) -> Any:
        """The config that runs: the loaded model's once loaded, else the one read from config.json."""
        return self._model.config if self._model is not None else self.config

    def _load_weights(self) -> None:
        model_class, _ = self.classes()
        logger.info("loading weights of %s on %s (%s)", self.resolved.source, self.runtime.device, self.dtype)
        try:
            model = load_pretrained(model_class, self.resolved.path, self.dtype, self.runtime.device)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise WeightsLoadError(
                f"Cannot load the weights of {self.resolved.source} ({type(exc).__name__}: {exc}).",
                "Re-download or re-save the checkpoint, or check the device has room for it.",
            ) from exc
        model.eval()
        self.checkpoint_generation_defaults = neutral_generation_config(model)
        if self.checkpoint_generation_defaults:
            logger.info("%s: generation_config.json values not applied (decoding is explicit): %s",
                        self.resolved.source, self.checkpoint_generation_defaults)
        self._model = model
        self.weights_loads += 1
        self.loaded()

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        """Drop the weights once every capability of this adapter is done (they reload on demand)."""
        if self.capabilities <= capabilities_done and self._model is not None:
            logger.info("releasing the weights of %s", self.resolved.source)
            self._model = None
            release_memory()

    # ------------------------------------------------------------------ subclass hooks
    def classes(self) -> tuple[Any, Any]:
        """(model class, processor class), imported here so transformers loads only when used."""
        raise NotImplementedError

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Adjust the processor (padding side, pad token, ...) and describe the checkpoint from
        ``self.config`` (no weights yet). Default: nothing."""

    def loaded(self) -> None:  # noqa: B027 - optional hook
        """Adjust a freshly loaded ``self._model`` (runs after every weight load). Default: nothing."""

    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            spec=self.resolved.spec.raw,
            components=(component(self.resolved, self.role, self._architecture),),
        )

    def close(self) -> None:
        """Drop the weights and give their memory back, for good (idempotent)."""
        self._closed = True
        if self._model is not None:
            self._model = None
            release_memory()
