"""Typed, frozen specifications parsed from the command line.

Why: every choice that changes a number (model and revision, prompt, decoding and generation
settings, seed, device, dtype) lives in one of these objects, is written into the run
directory, and feeds the cache keys. Nothing downstream reads raw CLI strings.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from unified_bench.core.dtypes import DTYPES, default_device, default_dtype, torch_dtype_of
from unified_bench.core.openai_client import DEFAULT_API_KEY_ENV
from unified_bench.errors import SpecError

#: Entry-point group third parties use to add model schemes (``myscheme:whatever``).
ADAPTER_ENTRY_POINT_GROUP = "unified_bench.adapters"

_HF_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")

#: Capabilities a served model may be declared to have (``--served-capabilities``).
SERVED_CAPABILITIES = ("caption", "answer", "generate")


@dataclass(frozen=True)
class ServedOptions:
    """How to reach a served (``openai:``) model. Changes no output, so it is in no identity.

    ``api_key_env`` names the environment variable holding the key (the key itself never passes
    through a flag, a spec or a results file). ``capabilities``: declared instead of probed
    (None: probe the chat and images endpoints).
    """

    api_key_env: str = DEFAULT_API_KEY_ENV
    capabilities: tuple[str, ...] | None = None
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise SpecError(
                "The --api-key-env value is not an environment variable name (not echoed: it may be a key).",
                "Pass the NAME of the variable that holds the key (e.g. --api-key-env OPENAI_API_KEY), "
                "never the key itself.",
            )
        unknown = sorted(set(self.capabilities or ()) - set(SERVED_CAPABILITIES))
        if unknown:
            raise SpecError(
                f"Unknown served capability {', '.join(unknown)}.", f"Use some of: {', '.join(SERVED_CAPABILITIES)}."
            )
        if self.concurrency < 1 or self.timeout_s <= 0 or self.max_retries < 0:
            raise SpecError(
                f"Bad served-model transport: concurrency={self.concurrency}, timeout={self.timeout_s}, "
                f"retries={self.max_retries}.",
                "Use --served-concurrency >= 1, --served-timeout > 0 and --served-retries >= 0.",
            )


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` value.

    scheme: ``hf`` (hub repo), ``local`` (directory), ``composite`` (understanding + generation
    halves in ``parts``), ``py`` (``package.module:factory``), ``openai`` (a served model:
    ``target`` is the served model name, ``endpoint`` the server's base URL) or an entry-point
    scheme name. ``served`` (transport options of ``openai`` specs) is deliberately not part of
    ``to_dict`` or equality: how a server is reached changes no output.
    """

    raw: str
    scheme: str
    target: str
    revision: str | None = None
    parts: tuple[ModelSpec, ...] = ()
    endpoint: str | None = None
    served: ServedOptions | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "raw": self.raw,
            "scheme": self.scheme,
            "target": self.target,
            "revision": self.revision,
            "parts": [p.to_dict() for p in self.parts],
        }
        if self.endpoint is not None:
            d["endpoint"] = self.endpoint
        return d

    def with_served(self, served: ServedOptions) -> ModelSpec:
        """This spec with ``served`` set on every ``openai`` part (composites included)."""
        if self.scheme == "openai":
            return replace(self, served=served)
        if self.parts:
            return replace(self, parts=tuple(p.with_served(served) for p in self.parts))
        return self


def _parse_served(raw: str, body: str) -> ModelSpec:
    """``openai:MODEL@http(s)://host:port/v1`` (the model name may itself contain '/' or '@')."""
    index = max(body.rfind("@http://"), body.rfind("@https://"))
    model, endpoint = (body[:index], body[index + 1:]) if index >= 0 else (body, "")
    if not model or not endpoint:
        raise SpecError(
            f"Served model spec '{raw}' needs a model name and the server's URL.",
            "Write it as openai:MODEL@http://host:port/v1 (e.g. openai:Qwen/Qwen2.5-VL-7B-Instruct"
            "@http://localhost:8000/v1).",
        )
    host = urlparse(endpoint).netloc
    if not host:
        raise SpecError(f"'{endpoint}' in '{raw}' has no host.", "Write the URL as http://host:port/v1.")
    return ModelSpec(raw=raw, scheme="openai", target=model, endpoint=endpoint.rstrip("/"), served=ServedOptions())


def _entry_point_schemes() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group=ADAPTER_ENTRY_POINT_GROUP)}


def parse_model_spec(raw: str) -> ModelSpec:
    """Parse ``hf:ORG/NAME[@REV]``, a local directory, ``A+B``, ``py:mod:factory``,
    ``openai:MODEL@URL`` or a plugin scheme."""
    text = raw.strip()
    if not text:
        raise SpecError("Empty --model value.", "Pass e.g. --model hf:deepseek-community/Janus-Pro-1B.")
    if text.startswith("py:"):
        target = text[3:]
        if ":" not in target:
            raise SpecError(
                f"Model spec '{raw}' must name a factory as py:package.module:factory.",
                "Add ':factory_name' after the module path.",
            )
        return ModelSpec(raw=raw, scheme="py", target=target)
    if text.startswith("openai:") and "+" not in text:
        return _parse_served(raw, text[len("openai:"):])
    if "+" in text:
        halves = [h.strip() for h in text.split("+")]
        if len(halves) != 2 or not all(halves):
            raise SpecError(
                f"Composite model spec '{raw}' must have exactly two halves: UNDERSTANDING+GENERATION.",
                "Write it as hf:ORG/VLM+hf:ORG/T2I (a vision-language model, then a text-to-image pipeline).",
            )
        parts = tuple(parse_model_spec(h) for h in halves)
        for part in parts:
            if part.scheme == "composite":
                raise SpecError(f"Nested composite in '{raw}'.", "Use exactly one '+'.")
        return ModelSpec(raw=raw, scheme="composite", target=text, parts=parts)
    if text.startswith("hf:"):
        body = text[3:]
        repo, _, revision = body.partition("@")
        if not _HF_REPO_RE.match(repo):
            raise SpecError(
                f"'{repo}' in model spec '{raw}' is not a Hugging Face repo id (ORG/NAME).",
                "Write it as hf:ORG/NAME or hf:ORG/NAME@REVISION.",
            )
        return ModelSpec(raw=raw, scheme="hf", target=repo, revision=revision or None)
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        return ModelSpec(raw=raw, scheme="local", target=str(path.resolve()))
    scheme, sep, rest = text.partition(":")
    if sep and scheme in _entry_point_schemes():
        return ModelSpec(raw=raw, scheme=scheme, target=rest)
    if text.startswith(("/", "./", "../", "~")) or os.sep in text and not _HF_REPO_RE.match(text):
        raise SpecError(
            f"Model directory '{text}' does not exist.",
            "Check the path, or use hf:ORG/NAME for a model on the Hugging Face hub.",
        )
    known = ["hf:ORG/NAME[@REV]", "LOCAL_DIR", "UNDERSTANDING+GENERATION", "py:module:factory",
             "openai:MODEL@http://host:port/v1"]
    known += [f"{s}:..." for s in sorted(_entry_point_schemes())]
    hint = f" Did you mean hf:{text}?" if _HF_REPO_RE.match(text) else ""
    raise SpecError(f"Unknown model spec '{raw}'.{hint}", f"Use one of: {', '.join(known)}.")


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how models run. ``device``/``dtype`` are resolved (never 'auto') once loaded."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 8
    seed: int = 42
    deterministic: bool = False

    def resolved(self) -> RuntimeOptions:
        """Pick cuda when present, bf16 on GPUs that support it, fp32 on CPU."""
        device = self.device
        dtype = self.dtype
        if device == "auto":
            device = default_device()
        if dtype == "auto":
            dtype = default_dtype(device)
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise SpecError(
                    f"--device {device} was requested but PyTorch sees no CUDA device on this machine.",
                    "Run on a GPU machine with a CUDA build of torch, or pass --device cpu.",
                )
        elif device != "cpu" and not device.startswith("mps"):
            raise SpecError(f"Unknown device '{device}'.", "Use cuda, cuda:N, cpu or auto.")
        if dtype not in DTYPES:
            raise SpecError(f"Unknown dtype '{dtype}'.", f"Use one of: {', '.join(DTYPES)}.")
        if self.batch_size < 1:
            raise SpecError("--batch-size must be at least 1.", "Pass --batch-size 1 or more.")
        return RuntimeOptions(device, dtype, self.batch_size, self.seed, self.deterministic)

    def torch_dtype(self):
        return torch_dtype_of(self.resolved().dtype)


#: The published caption prompt of the reference protocol (UAE / Unified-Bench).
DEFAULT_CAPTION_PROMPT = (
    "You are an expert vision-language model. Your task is: Given an input image, generate a "
    'textual description of the image. If there is text in the image, transcribe it inside double '
    'quotes "". Now, carefully analyze the input image and output the full description.'
)


def _check_decoding(owner: str, temperature: float, top_k: int, top_p: float,
                    repetition_penalty: float, no_repeat_ngram_size: int, num_beams: int) -> None:
    """Refuse decoding values no backend can honour, when the settings are built (before any load)."""
    if temperature < 0:
        raise SpecError(
            f"{owner}: temperature {temperature} is negative.",
            "Use 0 for greedy decoding or a positive value (the protocol samples at 0.7).",
        )
    if top_k < 0:
        raise SpecError(f"{owner}: top_k {top_k} is negative.", "Use 0 (no top-k filter) or a positive count.")
    if not 0 < top_p <= 1:
        raise SpecError(f"{owner}: top_p {top_p} is outside (0, 1].", "Use 1.0 (no nucleus filter) or a value in (0, 1].")
    if repetition_penalty <= 0:
        raise SpecError(
            f"{owner}: repetition_penalty {repetition_penalty} must be positive.",
            "Use 1.0 (no penalty, the protocol's value).",
        )
    if no_repeat_ngram_size < 0:
        raise SpecError(f"{owner}: no_repeat_ngram_size {no_repeat_ngram_size} is negative.", "Use 0 (off).")
    if num_beams != 1:
        raise SpecError(
            f"{owner}: num_beams={num_beams}; beam search is not part of the protocol and is not supported.",
            "Use num_beams=1 (sampling or greedy decoding, one sequence per item).",
        )


class _Decoding:
    """Shared by caption and answer settings: the full decoding configuration, explicit.

    Why: ``generate`` fills every value it is not given from the checkpoint's
    ``generation_config.json`` (Qwen2.5-VL ships ``top_k=1, top_p=0.001, repetition_penalty=1.05``),
    so a setting left implicit is a setting the checkpoint chooses. Adapters pass ``decoding()``
    in full and it is recorded in results.json and the cache keys.
    """

    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    num_beams: int
    max_new_tokens: int

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0

    def decoding(self) -> dict[str, Any]:
        """The effective decoding: what every adapter applies, whatever the checkpoint's defaults."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "temperature": self.temperature if self.do_sample else 0.0,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "num_beams": self.num_beams,
            "seeding": "per-item",  # one torch.Generator per item: independent of batch size / neighbours
            "checkpoint_generation_config": "ignored (only special token ids are kept)",
        }


@dataclass(frozen=True)
class CaptionSettings(_Decoding):
    """Decoding settings for image -> text. Reference: 512 new tokens, sampling at T=0.7 with no
    top-k / top-p / repetition penalty, one sequence per image."""

    prompt: str = DEFAULT_CAPTION_PROMPT
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1

    def __post_init__(self) -> None:
        _check_decoding("Caption settings", self.temperature, self.top_k, self.top_p,
                        self.repetition_penalty, self.no_repeat_ngram_size, self.num_beams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"do_sample": self.do_sample, "decoding": self.decoding()}


@dataclass(frozen=True)
class GenerationSettings:
    """Text -> image settings. Reference (UAE): 1024x1024, 40 steps, guidance 5.0.

    ``temperature`` / ``top_k`` / ``top_p`` drive autoregressive image-token sampling (Janus, Emu3)
    and are passed explicitly so a checkpoint's generation config cannot change them; ``top_k=None``
    means the backend's reference recipe (Emu3: 2048, Janus: none), recorded in generation notes.
    Diffusion pipelines do not use them.
    """

    height: int = 1024
    width: int = 1024
    num_inference_steps: int = 40
    guidance_scale: float = 5.0
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0

    def __post_init__(self) -> None:
        _check_decoding("Generation settings", self.temperature, self.top_k or 0, self.top_p, 1.0, 0, 1)
        if self.height <= 0 or self.width <= 0:
            raise SpecError(f"Image size {self.width}x{self.height} is not positive.", "Use e.g. 1024x1024.")
        if self.num_inference_steps <= 0:
            raise SpecError(f"num_inference_steps={self.num_inference_steps} is not positive.", "Use e.g. 40.")
        if self.guidance_scale < 0:
            raise SpecError(
                f"guidance_scale {self.guidance_scale} is negative.",
                "Use a value >= 1 (1.0 disables classifier-free guidance; the protocol uses 5.0).",
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra"] = dict(self.extra)
        return d


@dataclass(frozen=True)
class AnswerSettings(_Decoding):
    """Decoding settings for visual question answering (greedy by default).

    ``images_first``: the image(s) come before the question, as multiple-choice references
    (VLMEvalKit's MMT-Bench and MMBench prompts) send them; captions put the text first.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    images_first: bool = True

    def __post_init__(self) -> None:
        _check_decoding("Answer settings", self.temperature, self.top_k, self.top_p,
                        self.repetition_penalty, self.no_repeat_ngram_size, self.num_beams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"decoding": self.decoding()}


@dataclass(frozen=True)
class RunSpec:
    """What to evaluate: the run's identity, written to run.json and checked on resume.

    ``model`` is None when a task scores existing outputs without a model (e.g. an image folder).
    ``task_config`` is the task's own frozen config (``Task.config_cls``); ``data`` the data-set
    spec (None = the task's default). ``notice`` is shown in the report (e.g. "random weights")
    and changes no output.
    """

    task: str
    model: ModelSpec | None
    task_config: Any = None
    data: str | None = None
    limit: int | None = None
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.model.to_dict() if self.model is not None else None,
            "data": self.data,
            "limit": self.limit,
            "runtime": asdict(self.runtime),
        }


@dataclass(frozen=True)
class ClusterSpec:
    """Where batches run when not in this process: a local Dask cluster of ``workers`` processes, or
    an existing scheduler (``scheduler`` address or ``scheduler_file``). Execution only: results in
    deterministic mode are those of a single-process run, so none of it is in run.json or the keys.
    """

    workers: int | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None
    #: Batches in flight per worker (2: the next batch is queued while one computes).
    in_flight_per_worker: int = 2
    #: Times the scheduler re-runs a batch whose worker died before the run gives up on it.
    allowed_failures: int = 3

    def __post_init__(self) -> None:
        given = [n for n, v in (("--workers", self.workers), ("--scheduler", self.scheduler),
                                ("--scheduler-file", self.scheduler_file)) if v is not None]
        if len(given) != 1:
            raise SpecError(
                f"Choose one way to reach a Dask cluster; got {', '.join(given) or 'none'}.",
                "Pass --workers N for a local cluster, or --scheduler tcp://HOST:PORT, or --scheduler-file F.",
            )
        if self.workers is not None and self.workers < 1:
            raise SpecError(f"--workers {self.workers} is not positive.", "Pass --workers 1 or more.")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise SpecError(
                f"--scheduler '{self.scheduler}' is not a scheduler address.",
                "Write it as tcp://HOST:PORT (the address `dask scheduler` prints).",
            )
        if self.scheduler_file is not None and not Path(self.scheduler_file).is_file():
            raise SpecError(
                f"Scheduler file '{self.scheduler_file}' does not exist.",
                "Start the scheduler with `dask scheduler --scheduler-file F` first, or check the path.",
            )
        if self.in_flight_per_worker < 1:
            raise SpecError("in_flight_per_worker must be at least 1.", "Use 2 (the default).")


@dataclass(frozen=True)
class ExecutionOptions:
    """How to execute a run; nothing here changes a number (so none of it is in run.json).

    ``cluster``: run the model's batches on Dask workers (None: in this process).
    ``output_cache``: a folder of finished model outputs shared between run directories, looked up
    by the request's cache key before computing (the captioner x generator matrix reuses each
    caption across generators through it). Outputs are keyed exactly like the run directory's
    records, so a hit is what this run would have computed.
    """

    out: Path
    force: bool = False
    show_progress: bool = True
    report: bool = True
    cluster: ClusterSpec | None = None
    output_cache: Path | None = None
