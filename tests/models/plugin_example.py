"""An example third-party adapter for ``--model py:tests.models.plugin_example:make``.

It captions with the image size and generates flat-colour images from the seed, which is
enough to prove the plugin path end to end without any model weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from unified_bench.models.base import Capability, ComponentIdentity, ModelAdapter, ModelIdentity
from unified_bench.specs import RuntimeOptions


class FlatColourAdapter(ModelAdapter):
    capabilities = frozenset({Capability.CAPTION, Capability.GENERATE})

    def __init__(self, runtime: RuntimeOptions) -> None:
        self.runtime = runtime

    def identity(self) -> ModelIdentity:
        comp = ComponentIdentity("plugin", "tests.models.plugin_example:make", "v1", "FlatColourAdapter")
        return ModelIdentity(spec="py:tests.models.plugin_example:make", components=(comp,))

    def caption(self, images, settings, seeds) -> list[str]:
        return [f"an image of {im.width}x{im.height} pixels" for im in images]

    def generate(self, prompts: Sequence[str], settings, seeds: Sequence[int]):
        from PIL import Image

        return [
            Image.new("RGB", (settings.width, settings.height), (s % 256, len(p) % 256, 128))
            for p, s in zip(prompts, seeds, strict=True)
        ]


def make(runtime: RuntimeOptions) -> FlatColourAdapter:
    return FlatColourAdapter(runtime)


def make_with_target(target: str, runtime: RuntimeOptions) -> FlatColourAdapter:
    """Entry-point style factory: (target, runtime)."""
    return FlatColourAdapter(runtime)


def make_bad(runtime: RuntimeOptions) -> str:
    return "not an adapter"
