"""A plugin adapter (loaded through ``py:tests.helpers.echo_adapter:FACTORY``) for runner tests.

Its "caption" is a lossless encoding of the image (base64 PNG), and "generation" decodes it and
adds seeded noise of amplitude ``NOISE``. So:
- with noise 0 the reconstruction equals the reference exactly (every encoder scores 100);
- the output depends on the seeds the runner passes, so resume-determinism is really tested;
- images with an odd width fail generation (a deterministic per-sample failure);
- every call is appended to the file named by ``ECHO_ADAPTER_LOG`` (one line per item), so a
  test can prove finished items were not recomputed after a crash.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

from unified_bench.models.base import Capability, ComponentIdentity, ModelAdapter, ModelIdentity


class EchoAdapter(ModelAdapter):
    capabilities = frozenset({Capability.CAPTION, Capability.GENERATE})

    def __init__(self, noise: float = 0.0, delay_s: float = 0.0) -> None:
        self.noise = noise
        self.delay_s = delay_s

    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            spec=f"echo(noise={self.noise})",
            components=(ComponentIdentity("unified", "tests.helpers.echo_adapter", "v1", "EchoAdapter"),),
        )

    def _log(self, kind: str, n: int) -> None:
        path = os.environ.get("ECHO_ADAPTER_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{kind} {n}\n")

    def caption(self, images, settings, seeds):
        self._log("caption", len(images))
        out = []
        for image in images:
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            out.append(base64.b64encode(buf.getvalue()).decode("ascii"))
        return out

    def generate(self, prompts: Sequence[str], settings, seeds):
        self._log("generate", len(prompts))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            image = Image.open(io.BytesIO(base64.b64decode(prompt))).convert("RGB")
            if image.width % 2:
                raise ValueError(f"echo adapter refuses odd widths ({image.width})")
            if self.noise:
                rng = np.random.default_rng(seed)
                arr = np.asarray(image, dtype=np.float32)
                arr = np.clip(arr + rng.normal(0, self.noise, arr.shape), 0, 255).astype(np.uint8)
                image = Image.fromarray(arr)
            out.append(image)
        return out


def make_lossless(runtime) -> EchoAdapter:
    return EchoAdapter(noise=0.0)


def make_noisy(runtime) -> EchoAdapter:
    return EchoAdapter(noise=20.0)


def make_slow(runtime) -> EchoAdapter:
    return EchoAdapter(noise=20.0, delay_s=float(os.environ.get("ECHO_ADAPTER_DELAY", "0.5")))


class CaptionOnly(ModelAdapter):
    capabilities = frozenset({Capability.CAPTION})

    def identity(self) -> ModelIdentity:
        return ModelIdentity(spec="caption-only", components=())

    def caption(self, images, settings, seeds):
        return ["a picture"] * len(images)


def make_caption_only(runtime) -> CaptionOnly:
    return CaptionOnly()
