"""A model behind an OpenAI-compatible endpoint (``--model openai:NAME@http://host:port/v1``).

Why: many unified models are easiest to run behind vLLM / SGLang / LMDeploy, and some baselines
(GPT-4o image generation) exist only behind an API. Caption and answer go through chat
completions (the prompt text first, then the images as PNG data URIs, as the protocol says);
generate goes through the images endpoint (``b64_json``, ``n=1`` per item). The items of a batch
fan out over the shared client's bounded pool (``unified_bench.core.openai_client``), so the
server does the batching.

What a served model cannot promise is recorded, not hidden: it cannot be pinned to a commit (the
identity's revision says "unpinned" and results carry a provenance flag), a seed the server
refuses is dropped and noted, and generation settings the images API has no parameter for are
listed in ``generation_notes``.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.core.openai_client import ClientConfig, OpenAIClient, RequestFailed, image_data_url
from unified_bench.errors import CapabilityError, SpecError
from unified_bench.models.base import Capability, ComponentIdentity, ModelAdapter, ModelIdentity
from unified_bench.specs import ModelSpec, RuntimeOptions, ServedOptions

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.specs import AnswerSettings, CaptionSettings, GenerationSettings

log = logging.getLogger(__name__)

_CHAT = frozenset({Capability.CAPTION, Capability.ANSWER})
#: ``/v1/models`` fields that name what is served and do not change between requests (vLLM's
#: ``created`` is the time of the request, so it is recorded in results but kept out of cache keys).
_STABLE_CARD_FIELDS = ("owned_by", "root", "parent", "max_model_len")

UNPINNED = "unpinned served model"


class ServedRequestError(RuntimeError):
    """One item's request failed for good; the runner records it for that item and retries it next run."""


class ServedAdapter(ModelAdapter):
    """Caption / answer through chat completions, generate through the images endpoint."""

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions, role: str | None = None,
                 client: OpenAIClient | None = None) -> None:
        if spec.scheme != "openai" or not spec.endpoint:
            raise SpecError(f"'{spec.raw}' is not a served model spec.", "Use openai:NAME@http://host:port/v1.")
        self.spec = spec
        self.role = role or "unified"
        options = spec.served or ServedOptions()
        self.client = client or OpenAIClient(ClientConfig(
            base_url=spec.endpoint,
            model=spec.target,
            api_key_env=options.api_key_env,
            concurrency=options.concurrency,
            timeout_s=options.timeout_s,
            max_retries=options.max_retries,
        ))
        self._memo: dict[str, Any] = {}
        self.card: dict[str, Any] | None = None
        self.capabilities = self._probe(options)

    # -- probe ---------------------------------------------------------------------------------
    def _probe(self, options: ServedOptions) -> frozenset[Capability]:
        """Which capabilities work, found before any work: from the flag, else by probing.

        A composite half is only asked for its own side (``understanding``: chat, ``generation``:
        images) and must have it. Key, reachability and unknown-model problems raise SpecError.
        """
        self.card = self.client.model_card()
        declared = {Capability(c) for c in options.capabilities} if options.capabilities else None
        if declared is None:
            wants_chat = self.role in ("unified", "understanding")
            wants_images = self.role in ("unified", "generation")
            required = {"understanding": "chat", "generation": "images"}.get(self.role)
        else:
            wants_chat = bool(declared & _CHAT)
            wants_images = Capability.GENERATE in declared
            required = "all"
        found: set[Capability] = set()
        reasons: dict[str, str] = {}
        if wants_chat:
            ok, why = self.client.probe_chat()
            if ok:
                found |= (declared & _CHAT) if declared is not None else set(_CHAT)
            else:
                reasons["chat"] = why
        if wants_images:
            ok, why = self.client.probe_images()
            if ok:
                found.add(Capability.GENERATE)
            else:
                reasons["images"] = why
        host = self.client.config.host
        for endpoint, why in reasons.items():
            if required in ("all", endpoint):
                path = "chat/completions" if endpoint == "chat" else "images/generations"
                raise SpecError(
                    f"The server at {host} does not serve {path} for '{self.spec.target}' ({why[:300]}).",
                    "Serve a model that supports it, or drop it from --served-capabilities (vLLM serves chat "
                    "only; image generation needs a server with /v1/images/generations).",
                )
        if not found:
            raise SpecError(
                f"The server at {host} answers neither chat completions nor image generation for "
                f"'{self.spec.target}' ({'; '.join(reasons.values())[:400]}).",
                "Check the URL (it must end in /v1) and the served model name.",
            )
        log.info("served model %s at %s: %s", self.spec.target, host, ", ".join(sorted(c.value for c in found)))
        return frozenset(found)

    # -- identity ------------------------------------------------------------------------------
    def _component(self, full: bool) -> ComponentIdentity:
        card = self.card or {}
        reported = {k: card[k] for k in _STABLE_CARD_FIELDS if card.get(k) is not None}
        if full:
            if card.get("created") is not None:
                reported["created"] = card["created"]
            if self.client.last_system_fingerprint:
                reported["system_fingerprint"] = self.client.last_system_fingerprint
        version = ", ".join(f"{k}={v}" for k, v in reported.items()) or "the server reports no version"
        return ComponentIdentity(
            role=self.role,
            source=f"openai:{self.spec.target}@{self.spec.endpoint}",
            revision=f"{UNPINNED} ({version})",
            architecture="openai-compatible server",
        )

    def identity(self) -> ModelIdentity:
        """Everything the server reported, including its request-time fields (results.json)."""
        return ModelIdentity(spec=self.spec.raw, components=(self._component(full=True),))

    def identity_for(self, capability: Capability) -> ModelIdentity:
        """Only what names the served model stably (host, name, ``/v1/models`` fields other than
        ``created``): a cache key that changed with every request could never resume."""
        return ModelIdentity(spec=self.spec.raw, components=(self._component(full=False),))

    def provenance_flags(self) -> dict[str, str]:
        flags = {
            UNPINNED: f"openai:{self.spec.target} at {self.client.config.host} cannot be pinned to a commit: the "
            "server may change the weights behind the name; re-running may not reproduce these outputs."
        }
        if self.client.dropped_params:
            flags["parameters refused by the server"] = (
                f"{', '.join(sorted(self.client.dropped_params))}: sent without them (a refused seed means the "
                "outputs are not reproducible)"
            )
        return flags

    def prompt_layout(self) -> dict[str, str]:
        return {
            "order": "text-image",
            "reason": "caption requests send the text part first, then the image (answers follow "
            "AnswerSettings.images_first); the server's chat template makes the final token order",
        }

    # -- settings ------------------------------------------------------------------------------
    def validate_settings(self, kind: str, settings: Any) -> None:
        if kind in ("caption", "answer") and settings.no_repeat_ngram_size:
            raise SpecError(
                f"no_repeat_ngram_size={settings.no_repeat_ngram_size} has no chat-completions parameter.",
                "Use 0 (the protocol's value) with a served model.",
            )

    def _decoding(self, settings: CaptionSettings | AnswerSettings, seed: int) -> dict[str, Any]:
        """Explicit decoding for one request. ``top_k`` / ``repetition_penalty`` are vLLM/SGLang
        extensions, sent only when not neutral (OpenAI's API refuses them)."""
        params: dict[str, Any] = {
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature if settings.do_sample else 0.0,
            "top_p": settings.top_p,
            "seed": seed,
            "n": 1,
        }
        if settings.top_k:
            params["top_k"] = settings.top_k
        if settings.repetition_penalty != 1.0:
            params["repetition_penalty"] = settings.repetition_penalty
        return params

    def generation_notes(self, settings: GenerationSettings) -> dict[str, str]:
        notes = {
            "size": f"sent as size={settings.width}x{settings.height}; the server decides whether to honour it "
            "(each output's actual size is recorded with it)",
            "num_inference_steps": "not sent (the images endpoint has no such parameter): the server's default",
            "guidance_scale": "not sent (the images endpoint has no such parameter): the server's default",
            "seed": "sent per item; dropped if the server refuses it (then outputs are not reproducible)",
        }
        if (settings.temperature, settings.top_k, settings.top_p) != (1.0, None, 1.0):
            notes["temperature/top_k/top_p"] = "not sent (the images endpoint has no such parameter)"
        if settings.extra:
            notes["extra"] = "not sent"
        return notes

    # -- batch methods -------------------------------------------------------------------------
    def _fan_out(self, keys: Sequence[str], fn: Callable[[int], Any]) -> list[Any]:
        """Run ``fn(i)`` for every item over the client's pool; results in order.

        Why the memo: when one item fails, the runner retries the batch item by item; finished
        items of the failed batch are answered from the memo instead of being asked again.
        """
        results: list[Any] = [None] * len(keys)
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        for i, k in enumerate(keys):
            if k in self._memo:
                results[i] = self._memo.pop(k)
        outcomes = self.client.map(fn, todo)
        failures: list[BaseException] = []
        for i, outcome in zip(todo, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failures.append(outcome)
            else:
                results[i] = outcome
        if failures:
            for i, outcome in zip(todo, outcomes, strict=True):
                if not isinstance(outcome, BaseException):
                    self._memo[keys[i]] = outcome
            first = failures[0]
            if isinstance(first, SpecError | CapabilityError):
                raise first
            if isinstance(first, RequestFailed):
                config_error = self.client.config_error(first, "a request")
                if config_error is not None and first.status in (401, 403, 404):
                    raise config_error from first  # the key was revoked mid-run: stop, do not record 1000 failures
                raise ServedRequestError(str(first)) from first
            raise first
        return results

    def _chat_batch(self, contents: Sequence[list[dict[str, Any]]], settings: Any,
                    seeds: Sequence[int], kind: str) -> list[str]:
        bodies = [([{"role": "user", "content": c}], self._decoding(settings, s)) for c, s in zip(contents, seeds,
                                                                                                 strict=True)]
        keys = [hashlib.sha256(repr((kind, b)).encode()).hexdigest() for b in bodies]

        def ask(i: int) -> str:
            messages, params = bodies[i]
            return self.client.chat(messages, **params).text

        return self._fan_out(keys, ask)

    def caption(self, images: Sequence[Image], settings: CaptionSettings, seeds: Sequence[int]) -> list[str]:
        contents = [[{"type": "text", "text": settings.prompt},
                     {"type": "image_url", "image_url": {"url": image_data_url(im)}}] for im in images]
        return self._chat_batch(contents, settings, seeds, "caption")

    def answer(
        self,
        images: Sequence[Sequence[Image]],
        questions: Sequence[str],
        settings: AnswerSettings,
        seeds: Sequence[int],
    ) -> list[str]:
        contents = []
        for ims, q in zip(images, questions, strict=True):
            text = [{"type": "text", "text": q}]
            pictures = [{"type": "image_url", "image_url": {"url": image_data_url(im)}} for im in ims]
            # Multiple-choice references send the images first (AnswerSettings.images_first), as the
            # local adapters do; captions send the text first (the unified protocol).
            contents.append(pictures + text if settings.images_first else text + pictures)
        return self._chat_batch(contents, settings, seeds, "answer")

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, seeds: Sequence[int]) -> list[Image]:
        from PIL import Image as PILImage

        size = f"{settings.width}x{settings.height}"
        keys = [hashlib.sha256(repr(("generate", p, size, s)).encode()).hexdigest() for p, s in zip(prompts, seeds,
                                                                                                    strict=True)]

        def draw(i: int) -> Image:
            data = self.client.generate_image(prompts[i], size=size, seed=int(seeds[i]))
            try:
                with PILImage.open(io.BytesIO(data)) as img:
                    img.load()
                    image = img.convert("RGB")
            except (OSError, ValueError, SyntaxError) as exc:
                raise RequestFailed(f"the images endpoint returned bytes that are not an image ({exc})") from exc
            if image.size != (settings.width, settings.height):
                log.warning("%s drew %dx%d for a %s request (size not honoured; recorded per item)",
                            self.spec.target, image.width, image.height, size)
            return image

        return self._fan_out(keys, draw)

    def close(self) -> None:
        self._memo.clear()
        self.client.close()
