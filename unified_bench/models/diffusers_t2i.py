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
from unified_bench.models.common import component, release_memory

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.models.hub import ResolvedModel
    from unified_bench.specs import GenerationSettings, RuntimeOptions

logger = logging.getLogger(__name__)

_CORE = ("height", "width", "num_inference_steps", "guidance_scale")


class _DropTruncationWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "truncated because" not in record.getMessage()


def _pipeline_class(resolved: ResolvedModel) -> type | None:
    """The pipeline class the loader builds for ``resolved`` (read from model_index.json), or None.

    Mirrors ``_load``: the text-to-image class ``AutoPipelineForText2Image`` maps the saved class
    name to, else the saved class itself. None (unknown): the pipeline is then loaded up front.
    """
    import json

    import diffusers

    try:
        name = json.loads((resolved.path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    except (OSError, ValueError, KeyError):
        return None
    try:
        from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING, _get_task_class

        return _get_task_class(AUTO_TEXT2IMAGE_PIPELINES_MAPPING, name)
    except (ImportError, ValueError):
        cls = getattr(diffusers, str(name), None)
        return cls if isinstance(cls, type) else None


class DiffusersT2IAdapter(ModelAdapter):
    """Generate-only adapter for a diffusers text-to-image pipeline directory."""

    capabilities = frozenset({Capability.GENERATE})

    def __init__(
        self,
        resolved: ResolvedModel,
        runtime: RuntimeOptions,
        role: str = "generation",
        *,
        defer_weights: bool = False,
    ) -> None:
        self.resolved = resolved
        self.runtime = runtime.resolved()
        self.role = role
        self._pipe: Any = None
        self._closed = False
        #: How many times the pipeline weights were loaded (a composite's half: on first use only).
        self.weights_loads = 0
        self._truncation_warned: set[str] = set()
        self._truncation_filter = _DropTruncationWarnings()
        self._pipe_logger: logging.Logger | None = None
        # Described from model_index.json (no weights): the class the loader will build, and what
        # its __call__ accepts, so settings are checked and noted before any work.
        pipe_class = _pipeline_class(resolved)
        if pipe_class is None or not defer_weights:
            self._load_weights()
            pipe_class = type(self._pipe)
        self._pipeline_name = pipe_class.__name__
        params = inspect.signature(pipe_class.__call__).parameters
        self._accepted = set(params) - {"self"}
        self._accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    @property
    def pipe(self) -> Any:
        """The loaded pipeline, loading it on first use (after ``close``: AttributeError)."""
        if self._closed:
            raise AttributeError(f"DiffusersT2IAdapter for {self.resolved.source} is closed")
        if self._pipe is None:
            self._load_weights()
        return self._pipe

    @property
    def weights_loaded(self) -> bool:
        """Whether the pipeline is in memory now (for tests and logs; never loads it)."""
        return self._pipe is not None

    def _load_weights(self) -> None:
        from unified_bench.models.transformers_base import WeightsLoadError

        logger.info("loading pipeline %s on %s (%s)", self.resolved.source, self.runtime.device, self.runtime.dtype)
        try:
            pipe = self._load(self.resolved, self.runtime.torch_dtype())
            pipe.to(self.runtime.device)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise WeightsLoadError(
                f"Cannot load the pipeline {self.resolved.source} ({type(exc).__name__}: {exc}).",
                "Re-download or re-save the checkpoint, or check the device has room for it.",
            ) from exc
        # The runner shows one progress bar for the whole run; per-call bars would drown it.
        pipe.set_progress_bar_config(disable=True)
        name = getattr(self, "_pipeline_name", None)
        if name is not None and type(pipe).__name__ != name:
            logger.warning("%s loaded as %s, described as %s", self.resolved.source, type(pipe).__name__, name)
        # Pipelines warn about truncated prompts on every call; we log it once ourselves.
        self._pipe_logger = logging.getLogger(type(pipe).__module__)
        self._pipe_logger.addFilter(self._truncation_filter)
        self._pipe = pipe
        self.weights_loads += 1

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        """Drop the pipeline once generation is done (it reloads if asked again)."""
        if Capability.GENERATE in capabilities_done and self._pipe is not None:
            logger.info("releasing the pipeline %s", self.resolved.source)
            self._drop()

    def _drop(self) -> None:
        if self._pipe_logger is not None:
            self._pipe_logger.removeFilter(self._truncation_filter)
        if self._pipe is not None:
            self._pipe = None
            release_memory()

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
            components=(component(self.resolved, self.role, self._pipeline_name),),
        )

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        names = list(_CORE) + [k for k, _ in settings.extra]
        notes = {
            n: f"ignored: {self._pipeline_name} has no '{n}' argument"
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

    def _check_prompt_length(self, prompts: Sequence[str], settings: GenerationSettings) -> None:
        """Count, per prompt, the tokens the text encoder will cut off; warn once per adapter (run).

        Why per prompt: a captioner writing hundreds of tokens against CLIP's 77 regenerates from a
        fraction of its caption; each sample's record says how much (``take_item_notes``)."""
        self._notes = [{} for _ in prompts]
        tokenizer = getattr(self.pipe, "tokenizer", None)
        limit = getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not limit or limit > 100_000:
            return
        lengths = [len(tokenizer(p).input_ids) for p in prompts]
        self._notes = [{"prompt_truncated_tokens": n - limit} if n > limit else {} for n in lengths]
        longest = max(lengths)
        key = repr(settings)
        if longest > limit and key not in self._truncation_warned:
            # Once per stage (every call of a stage shares its settings): the unified task's one
            # generation stage warns once per run; the counts themselves are per sample.
            self._truncation_warned.add(key)
            logger.warning(
                "Some prompts are longer than the text encoder's %d-token limit and are truncated by the "
                "pipeline (first batch: up to %d tokens); each sample's truncated token count is recorded "
                "in results.json (prompt_truncated_tokens, n_prompts_truncated).", limit, longest
            )

    def take_item_notes(self) -> list[dict[str, Any]] | None:
        notes, self._notes = getattr(self, "_notes", None), None
        return notes if notes and any(notes) else None

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        import torch

        if not prompts:
            return []
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        self._check_prompt_length(prompts, settings)
        wanted: dict[str, Any] = {n: getattr(settings, n) for n in _CORE}
        wanted.update(dict(settings.extra))
        kwargs = {k: v for k, v in wanted.items() if self._accepts(k)}
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        with torch.inference_mode():
            out = self.pipe(prompt=list(prompts), generator=generators, output_type="pil", **kwargs)
        return [im.convert("RGB") for im in out.images]

    def close(self) -> None:
        """Drop the pipeline and give its memory back, for good (idempotent)."""
        self._closed = True
        self._drop()
