"""Any diffusers text-to-image pipeline (Stable Diffusion, SDXL, PixArt, SANA, FLUX, ...): generate only.

Why: the generation half of a composite is usually a diffusion pipeline; diffusers' auto
pipelines cover them without per-model code.

Generation settings honoured: ``height``, ``width``, ``num_inference_steps``, ``guidance_scale``
and every ``extra`` key, each only if the pipeline's ``__call__`` accepts it (a pipeline
without e.g. ``guidance_scale`` gets a logged warning and a note in ``generation_notes``).
Seeds are per prompt: one CPU ``torch.Generator`` per item, so an image depends on its own seed
only (not on its batch neighbours) and the initial noise is the same on every device.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.models.base import Capability, ModelAdapter, ModelIdentity
from unified_bench.models.common import WarnOnce, component, release_memory

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import GenerationSettings, RuntimeOptions

logger = logging.getLogger(__name__)

_CORE = ("height", "width", "num_inference_steps", "guidance_scale")


class _DropTruncationWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "truncated because" not in record.getMessage()


class DiffusersT2IAdapter(ModelAdapter):
    """Generate-only adapter for a diffusers text-to-image pipeline directory."""

    capabilities = frozenset({Capability.GENERATE})

    def __init__(self, resolved: ResolvedModel, runtime: RuntimeOptions, role: str = "generation") -> None:
        self.resolved = resolved
        self.runtime = runtime.resolved()
        self.role = role
        self.pipe = self._load(resolved, self.runtime.torch_dtype())
        self.pipe.to(self.runtime.device)
        # The runner shows one progress bar for the whole run; per-call bars would drown it.
        self.pipe.set_progress_bar_config(disable=True)
        params = inspect.signature(self.pipe.__call__).parameters
        self._accepted = set(params)
        self._accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self._warn = WarnOnce(logger)
        # Pipelines warn about truncated prompts on every call; we log it once ourselves.
        self._pipe_logger = logging.getLogger(type(self.pipe).__module__)
        self._truncation_filter = _DropTruncationWarnings()
        self._pipe_logger.addFilter(self._truncation_filter)

    @staticmethod
    def _load(resolved: ResolvedModel, dtype: Any) -> Any:
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        # low_cpu_mem_usage: each tensor is materialised once, already in ``dtype`` (no fp32 copy).
        try:
            return AutoPipelineForText2Image.from_pretrained(resolved.path, torch_dtype=dtype, low_cpu_mem_usage=True)
        except ValueError as exc:
            # AutoPipeline only knows pipelines it maps to a text-to-image task.
            logger.info("AutoPipelineForText2Image cannot load %s (%s); using DiffusionPipeline.",
                        resolved.source, exc)
            return DiffusionPipeline.from_pretrained(resolved.path, torch_dtype=dtype, low_cpu_mem_usage=True)

    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            spec=self.resolved.spec.raw,
            components=(component(self.resolved, self.role, type(self.pipe).__name__),),
        )

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        names = list(_CORE) + [k for k, _ in settings.extra]
        notes = {
            n: f"ignored: {type(self.pipe).__name__} has no '{n}' argument"
            for n in names
            if not self._accepts(n)
        }
        # Token-sampling settings exist for autoregressive generators; a diffusion pipeline has none.
        token_sampling = {"temperature": (settings.temperature, 1.0), "top_k": (settings.top_k, None),
                          "top_p": (settings.top_p, 1.0)}
        for name, (value, default) in token_sampling.items():
            if value != default:
                notes[name] = "ignored: diffusion pipelines do not sample tokens"
        return notes

    def _accepts(self, name: str) -> bool:
        return name in self._accepted or self._accepts_any

    def _check_prompt_length(self, prompts: Sequence[str]) -> None:
        tokenizer = getattr(self.pipe, "tokenizer", None)
        limit = getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not limit or limit > 100_000:
            return
        longest = max(len(tokenizer(p).input_ids) for p in prompts)
        if longest > limit:
            self._warn(
                f"Some prompts are longer than the text encoder's {limit}-token limit and are "
                f"truncated by the pipeline (longest so far: {longest} tokens)."
            )

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        import torch

        if not prompts:
            return []
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        self._check_prompt_length(prompts)
        wanted: dict[str, Any] = {n: getattr(settings, n) for n in _CORE}
        wanted.update(dict(settings.extra))
        kwargs = {k: v for k, v in wanted.items() if self._accepts(k)}
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        with torch.inference_mode():
            out = self.pipe(prompt=list(prompts), generator=generators, output_type="pil", **kwargs)
        return [im.convert("RGB") for im in out.images]

    def close(self) -> None:
        """Drop the pipeline and give its memory back (idempotent)."""
        self._pipe_logger.removeFilter(self._truncation_filter)
        if self.__dict__.pop("pipe", None) is not None:
            release_memory()
