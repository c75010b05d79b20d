"""What every adapter around one transformers checkpoint does the same way: load, identify, release.

Why a base class: Janus, Emu3 and the generic image-text-to-text adapter each loaded the model on
the runtime's device and dtype, loaded its processor, described themselves by the resolved
checkpoint, and moved the weights off the GPU on close, in three copies. Subclasses name their
model and processor classes and adjust the processor (left padding, missing pad tokens, ...).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from unified_bench.models.base import ModelAdapter, ModelIdentity
from unified_bench.models.common import component, neutral_generation_config, release_memory

logger = logging.getLogger(__name__)


def load_pretrained(model_class: Any, path: Any, dtype: Any, device: str) -> Any:
    """``from_pretrained`` straight onto ``device`` in ``dtype``.

    Why: loading on the CPU in fp32 and then calling ``.to(device)`` keeps a full-precision copy of
    a 7B model in host RAM first (28 GB); ``device_map`` makes transformers materialise each
    tensor on the target device in the target dtype.
    """
    return model_class.from_pretrained(path, dtype=dtype, device_map=device)


if TYPE_CHECKING:
    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import RuntimeOptions


class TransformersAdapter(ModelAdapter):
    """An adapter backed by one ``from_pretrained`` model + processor pair."""

    #: The role recorded in the identity when the loader gives none (unified, understanding, ...).
    default_role: ClassVar[str] = "unified"

    def __init__(self, resolved: ResolvedModel, runtime: RuntimeOptions, role: str | None = None) -> None:
        self.resolved = resolved
        self.runtime = runtime.resolved()
        self.role = role or self.default_role
        self.dtype = self.runtime.torch_dtype()
        model_class, processor_class = self.classes()
        self.model = load_pretrained(model_class, resolved.path, self.dtype, self.runtime.device)
        self.model.eval()
        self.processor = processor_class.from_pretrained(resolved.path)
        self.checkpoint_generation_defaults = neutral_generation_config(self.model)
        if self.checkpoint_generation_defaults:
            logger.info("%s: generation_config.json values not applied (decoding is explicit): %s",
                        resolved.source, self.checkpoint_generation_defaults)
        self.prepare()

    def classes(self) -> tuple[Any, Any]:
        """(model class, processor class), imported here so transformers loads only when used."""
        raise NotImplementedError

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Adjust the loaded model / processor (padding side, pad token, ...) and set up any state
        of the subclass's own. Default: nothing."""

    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            spec=self.resolved.spec.raw,
            components=(component(self.resolved, self.role, type(self.model).__name__),),
        )

    def close(self) -> None:
        """Drop the weights and give their memory back (idempotent)."""
        if self.__dict__.pop("model", None) is not None:
            release_memory()
