"""Two models acting as one: an understanding model for caption/answer, a generator for images.

Why: many "unified" evaluations pair the best captioner with the best generator
(``--model hf:ORG/VLM+hf:ORG/T2I``). The composite exposes exactly the capabilities each half
contributes and an identity naming both checkpoints with their roles, so cached outputs of a
pairing are never mistaken for those of either half alone.

Memory: the loader describes both halves up front (identity, capabilities, settings checks, native
size) but defers their weights; each half loads on first use, and ``release`` (called by the runner
after each stage) frees a half once the stages it serves are done. So captioning holds only the
captioner, generation only the generator, as on a user's single GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from unified_bench.errors import SpecError
from unified_bench.models.base import Capability, ModelAdapter, ModelIdentity

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.specs import AnswerSettings, CaptionSettings, GenerationSettings

_UNDERSTANDING = frozenset({Capability.CAPTION, Capability.ANSWER})


class CompositeAdapter(ModelAdapter):
    """Caption/answer from ``understanding``, generate from ``generation``."""

    def __init__(self, understanding: ModelAdapter, generation: ModelAdapter, spec: str) -> None:
        if not understanding.capabilities & _UNDERSTANDING:
            raise SpecError(
                f"The first half of '{spec}' ({understanding.identity().spec}) cannot caption or answer.",
                "Put the vision-language model first and the text-to-image model second: VLM+T2I.",
            )
        if Capability.GENERATE not in generation.capabilities:
            raise SpecError(
                f"The second half of '{spec}' ({generation.identity().spec}) cannot generate images.",
                "Put a text-to-image model (e.g. a diffusers pipeline) second: VLM+T2I.",
            )
        self.understanding = understanding
        self.generation = generation
        self.spec = spec
        self.capabilities = frozenset(
            (understanding.capabilities & _UNDERSTANDING) | {Capability.GENERATE}
        )

    def identity(self) -> ModelIdentity:
        components = tuple(
            replace(c, role="understanding") for c in self.understanding.identity().components
        ) + tuple(replace(c, role="generation") for c in self.generation.identity().components)
        return ModelIdentity(spec=self.spec, components=components)

    def identity_for(self, capability: Capability) -> ModelIdentity:
        half = self.generation if capability is Capability.GENERATE else self.understanding
        return half.identity_for(capability)

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        return self.generation.generation_notes(settings)

    def validate_settings(self, kind: str, settings: Any) -> None:
        """Each half checks the settings of the stages it runs."""
        half = self.generation if kind == "generate" else self.understanding
        half.validate_settings(kind, settings)

    def provenance_flags(self) -> dict[str, str]:
        flags = {f"{k} (understanding)": v for k, v in self.understanding.provenance_flags().items()}
        return flags | {f"{k} (generation)": v for k, v in self.generation.provenance_flags().items()}

    def prompt_layout(self) -> dict[str, str] | None:
        return self.understanding.prompt_layout()

    def native_generation_size(self) -> tuple[int, int] | None:
        return self.generation.native_generation_size()

    def take_item_notes(self) -> list[dict[str, Any]] | None:
        """The notes of whichever half ran the last call."""
        last = getattr(self, "_last", None)
        return last.take_item_notes() if last is not None else None

    def caption(self, images: Sequence[Image], settings: CaptionSettings, seeds: Sequence[int]) -> list[str]:
        self._last = self.understanding
        return self.understanding.caption(images, settings, seeds)

    def answer(
        self,
        images: Sequence[Sequence[Image]],
        questions: Sequence[str],
        settings: AnswerSettings,
        seeds: Sequence[int],
    ) -> list[str]:
        self._last = self.understanding
        return self.understanding.answer(images, questions, settings, seeds)

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        self._last = self.generation
        return self.generation.generate(prompts, settings, seeds)

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        """Release each half whose part of the work is done.

        A half is asked only for what the composite routes to it, so a unified model used as the
        captioner (e.g. Janus) is released after captioning although it could also generate."""
        self.understanding.release(capabilities_done | (self.understanding.capabilities - _UNDERSTANDING))
        self.generation.release(capabilities_done | (self.generation.capabilities - {Capability.GENERATE}))

    def close(self) -> None:
        self.understanding.close()
        self.generation.close()
