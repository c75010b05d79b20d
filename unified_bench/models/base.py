"""The model adapter interface every backend implements.

Why: tasks only speak in batches of requests of three kinds (caption, generate, answer).
An adapter declares which of them it supports (``capabilities``) so the runner can refuse a
task *before* any work starts, and reports an ``identity`` (model ids + resolved commits)
that goes into every cache key and into results.json.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from unified_bench.errors import CapabilityError

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.specs import AnswerSettings, CaptionSettings, GenerationSettings


class Capability(str, Enum):
    CAPTION = "caption"  # image -> text (understanding, I2T)
    GENERATE = "generate"  # text -> image (generation, T2I)
    ANSWER = "answer"  # images + question -> text (VQA / multiple choice)


@dataclass(frozen=True)
class ComponentIdentity:
    """One loaded checkpoint: where it came from and exactly which version."""

    role: str  # "unified", "understanding", "generation", "plugin"
    source: str  # repo id, absolute path, or "module:factory"
    revision: str | None  # resolved commit hash for hub models, content hash for local dirs
    architecture: str  # e.g. "JanusForConditionalGeneration", "StableDiffusionPipeline"

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "source": self.source,
            "revision": self.revision,
            "architecture": self.architecture,
        }


@dataclass(frozen=True)
class ModelIdentity:
    """Everything that identifies *which model answered*: part of every cache key."""

    spec: str
    components: tuple[ComponentIdentity, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "components": [c.to_dict() for c in self.components]}


class ModelAdapter(ABC):
    """Batch interface to a model. Subclasses override the methods for their capabilities.

    Seeds: every batch method receives one seed per item, and an item's output must depend only on
    its own seed and inputs, never on the batch size or its neighbours (diffusers: one generator
    per prompt; transformers backends: one generator per row inside a logits processor, see
    ``models/common.py``). Batching is then only a speed choice.
    """

    capabilities: frozenset[Capability] = frozenset()

    @abstractmethod
    def identity(self) -> ModelIdentity:
        """Which checkpoints answer (ids + resolved revisions): recorded in results.json."""

    def identity_for(self, capability: Capability) -> ModelIdentity:
        """The identity of what produces ``capability``'s outputs: part of their cache keys.

        Why separate from ``identity``: a composite's captions come from its understanding half
        alone, so their keys must not name the generator; then a caption is reused with any
        generator (the captioner x generator matrix). Default: the whole model.
        """
        return self.identity()

    def caption(
        self, images: Sequence[Image], settings: CaptionSettings, seeds: Sequence[int]
    ) -> list[str]:
        raise CapabilityError(f"{type(self).__name__} cannot caption images.", "Pick a model that can.")

    def generate(
        self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]
    ) -> list[Image]:
        raise CapabilityError(f"{type(self).__name__} cannot generate images.", "Pick a model that can.")

    def answer(
        self,
        images: Sequence[Sequence[Image]],
        questions: Sequence[str],
        settings: AnswerSettings,
        seeds: Sequence[int],
    ) -> list[str]:
        raise CapabilityError(f"{type(self).__name__} cannot answer questions.", "Pick a model that can.")

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        """Requested generation settings this backend does not apply (name -> what happens instead).

        Why: e.g. Janus always draws at its native size and has no denoising steps; results.json
        says so rather than reporting settings that never took effect. Default: none.
        """
        return {}

    def validate_settings(self, kind: str, settings: Any) -> None:  # noqa: B027 - optional hook
        """Refuse settings this backend cannot run, before any work starts.

        ``kind`` is ``"caption"``, ``"generate"`` or ``"answer"``; raise
        ``unified_bench.errors.SpecError(problem, fix)``. Why: a guidance value or image size the
        model cannot honour used to fail each generation after the whole caption stage had run.
        The runner calls this for every stage right after loading. Default: accept everything
        (the settings objects already refuse values no backend accepts, e.g. negative temperature).
        """

    def prompt_layout(self) -> dict[str, str] | None:
        """Order of text and image(s) in the understanding prompt: ``{"order": "text-image" |
        "image-text", "reason": ...}``, recorded in results.json. Why: the protocol sends the text
        first; a chat template that forces images first must be visible in the results.
        ``None``: not applicable / unknown (e.g. a plugin)."""
        return None

    def provenance_flags(self) -> dict[str, str]:
        """Facts about where the outputs came from that a reader must see (flag -> explanation).

        Why: a served model cannot be pinned to a commit, so its results are labelled
        ("unpinned served model") in results.json and the report. Asked after the model stages
        ran, so it may report what happened during the run. Default: none.
        """
        return {}

    def take_item_notes(self) -> list[dict[str, Any]] | None:
        """Per-item facts about the last batch call, one dict per item, then forgotten (or None).

        Why a separate channel: the batch methods' signatures stay as they are (outputs only), yet
        some facts belong to one item and must reach its record, e.g. how many prompt tokens the
        text encoder cut off (``{"prompt_truncated_tokens": 52}``). The executor asks right after
        each call and stores them under the item's ``notes``. Default: none.
        """
        return None

    def native_generation_size(self) -> tuple[int, int] | None:
        """(height, width) the generator draws natively, or ``None`` when any size is fine.

        Why: autoregressive generators have a fixed canvas or context (Janus 384x384, Emu3-Gen
        720x720 area); the runner uses this when the user did not choose a size."""
        return None

    def release(self, capabilities_done: frozenset[Capability]) -> None:  # noqa: B027 - optional hook
        """Free the weights serving only ``capabilities_done``: no later stage of the run needs them.

        Why: a composite's captioner and generator need not share the device; the runner calls this
        after each model stage, so the captioner leaves before the generator loads (the generator's
        weights load on first use), and everything leaves before the encoders. An adapter may load
        weights again if a capability is asked later. Default: nothing (``close`` frees all at the end).
        """

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately a no-op by default
        """Release GPU memory before scoring. Default: nothing to do."""


def check_capabilities(adapter: ModelAdapter, needed: frozenset[Capability], task: str) -> None:
    """Fail before any work if ``adapter`` lacks a capability ``task`` needs."""
    missing = sorted(c.value for c in needed - adapter.capabilities)
    if missing:
        have = ", ".join(sorted(c.value for c in adapter.capabilities)) or "nothing"
        raise CapabilityError(
            f"Task '{task}' needs the model to {', '.join(missing)}, but "
            f"'{adapter.identity().spec}' can only: {have}.",
            "For the unified task pair an understanding model with a generator: "
            "--model hf:ORG/VLM+hf:ORG/TEXT2IMAGE.",
        )
