"""Encoder registry and the one function the runner calls to get a loaded encoder.

Why: encoders are chosen by name on the command line (``--encoders clip,dinov2``); the registry
keeps the entries lazy so listing names never imports torch, and a misspelt name gets a
did-you-mean error. ``checkpoint=None`` means the standard protocol checkpoint.
"""

from __future__ import annotations

from unified_bench.metrics.encoders.base import STANDARD_ENCODERS, EncoderSpec, ImageEncoder
from unified_bench.registry import Registry

ENCODERS: Registry[type[ImageEncoder]] = Registry("encoder")
ENCODERS.register("clip", "unified_bench.metrics.encoders.clip:ClipEncoder")
ENCODERS.register("dinov2", "unified_bench.metrics.encoders.dinov2:Dinov2Encoder")
ENCODERS.register("dinov3", "unified_bench.metrics.encoders.dinov3:Dinov3Encoder")
ENCODERS.register("longclip", "unified_bench.metrics.encoders.longclip:LongClipEncoder")


def load_encoder(
    spec: EncoderSpec, device: str = "cpu", dtype: str = "fp32", batch_size: int = 8, *, defer_weights: bool = False
) -> ImageEncoder:
    """Load the encoder ``spec`` names onto ``device`` in ``dtype`` (raises SpecError / EncoderError).

    ``defer_weights``: resolve and check the checkpoint now, load the weights on first use
    (``load_weights`` / ``embed``); the runner's way of keeping encoders off the device while the
    model under test runs."""
    cls = ENCODERS.get(spec.name)
    checkpoint = spec.checkpoint or STANDARD_ENCODERS.get(spec.name)
    if checkpoint is None:  # a registered encoder outside the standard protocol needs a checkpoint
        from unified_bench.errors import SpecError

        raise SpecError(
            f"Encoder '{spec.name}' has no standard checkpoint.",
            f"Give one explicitly, e.g. {spec.name}=ORG/NAME or {spec.name}=/path/to/weights.",
        )
    if defer_weights:
        return cls(checkpoint, device=device, dtype=dtype, batch_size=batch_size, defer_weights=True)  # type: ignore[call-arg]
    return cls(checkpoint, device=device, dtype=dtype, batch_size=batch_size)
