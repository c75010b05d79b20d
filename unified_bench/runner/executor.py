"""Executing batches of requests on a model adapter.

Why a seam here: a batch call is plain data in (``BatchCall``: kind, settings, requests, seeds) and
plain data out (text, or PNG bytes with the image size), so the same function runs in this process
(``LocalExecutor``) or on a Dask worker that holds its own loaded model; the client stays the single
writer of the run directory either way. Decoding request images happens here, next to the model,
so no stage ever holds a whole data set of decoded pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from unified_bench.errors import ImageSetError
from unified_bench.models.base import Capability

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.models.base import ModelAdapter
    from unified_bench.tasks.base import Request


@dataclass(frozen=True)
class BatchCall:
    """One adapter call: every request shares the stage's kind and settings; one seed per request."""

    stage: str
    kind: Capability
    settings: Any
    requests: tuple[Request, ...]
    seeds: tuple[int, ...]


def decode_image(data: bytes, label: str) -> Image:
    """Encoded bytes -> RGB image; a corrupt one is an ImageSetError naming the item."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageSetError(
            f"Image of item '{label}' is corrupt or not an image: {exc}.",
            "Replace or remove it from the data set, then run the same command again.",
        ) from exc


def png_bytes(image: Image) -> bytes:
    """The PNG encoding the run directory stores generated images in."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _with_notes(adapter: ModelAdapter, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach the adapter's per-item notes of this call (``ModelAdapter.take_item_notes``) as ``notes``."""
    notes = adapter.take_item_notes()
    if notes is not None and len(notes) == len(outputs):
        for out, note in zip(outputs, notes, strict=True):
            if note:
                out["notes"] = dict(note)
    return outputs


def call_adapter(adapter: ModelAdapter, call: BatchCall) -> list[dict[str, Any]]:
    """Run one batch; one output dict per request: ``{"text": ...}`` or ``{"png": ..., "size": [w, h]}``,
    plus ``"notes"`` where the adapter reported per-item facts (e.g. prompt tokens truncated)."""
    reqs = call.requests
    if call.kind is Capability.CAPTION:
        images = [decode_image(r.images[0], r.item_id) for r in reqs]
        texts = adapter.caption(images, call.settings, list(call.seeds))
        return _with_notes(adapter, [{"text": str(t)} for t in texts])
    if call.kind is Capability.GENERATE:
        generated = adapter.generate([r.text for r in reqs], call.settings, list(call.seeds))
        return _with_notes(adapter, [{"png": png_bytes(im), "size": list(im.size)} for im in generated])
    if call.kind is Capability.ANSWER:
        images = [[decode_image(b, r.item_id) for b in r.images] for r in reqs]
        texts = adapter.answer(images, [r.text for r in reqs], call.settings, list(call.seeds))
        return _with_notes(adapter, [{"text": str(t)} for t in texts])
    raise ValueError(f"unknown request kind {call.kind!r}")


class Executor(Protocol):
    """Runs batch calls somewhere; returns each call's outputs in request order."""

    def run(self, call: BatchCall) -> list[dict[str, Any]]: ...

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        """Free the model weights serving only ``capabilities_done`` (``ModelAdapter.release``).

        Called by the runner after each model stage with what no later stage needs; an executor
        without it keeps every weight until ``close`` (the runner checks with ``getattr``)."""

    def close(self) -> None: ...

    # Optional (the runner checks with ``getattr``): ``provenance_flags() -> dict[str, str]``, the flags
    # of the adapters that did the work (``ModelAdapter.provenance_flags``), when they are not the
    # runner's own adapter (Dask workers).


@runtime_checkable
class ConcurrentExecutor(Executor, Protocol):
    """An executor that can hold several batches in flight (e.g. on Dask workers).

    Why a separate protocol: N workers are only busy if the runner submits N batches before it
    waits for the first; the runner then still collects results in batch order and is the only
    writer of the run directory. ``submit`` returns anything with ``result()`` (a Dask future).
    """

    #: How many batches the runner keeps in flight (e.g. 2 per worker, so none waits idle).
    max_in_flight: int

    def submit(self, call: BatchCall) -> Any: ...


class LocalExecutor:
    """Calls the adapter in this process (the default)."""

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter

    def run(self, call: BatchCall) -> list[dict[str, Any]]:
        return call_adapter(self.adapter, call)

    def release(self, capabilities_done: frozenset[Capability]) -> None:
        self.adapter.release(capabilities_done)

    def close(self) -> None:
        self.adapter.close()


def check_lengths(call: BatchCall, outputs: Sequence[Any]) -> None:
    if len(outputs) != len(call.requests):
        raise RuntimeError(f"{call.stage}: backend returned {len(outputs)} results for {len(call.requests)} inputs")
