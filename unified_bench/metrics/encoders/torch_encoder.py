"""Shared machinery of the torch scoring encoders: batching, dtype/device, normalisation, fingerprint.

Why: every encoder does the same thing around its model - split images into batches, preprocess,
run the forward pass under ``torch.inference_mode``, cast to float32 and L2-normalise - so each
encoder file only says how to load its model, how to preprocess, and which output is the embedding.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.errors import EncoderError
from unified_bench.metrics.encoders.base import ImageEncoder
from unified_bench.metrics.encoders.checkpoints import ResolvedCheckpoint, resolve_checkpoint, torch_dtype

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL.Image import Image

logger = logging.getLogger(__name__)


def library_versions(names: Sequence[str]) -> dict[str, str | None]:
    """Installed versions of ``names`` (distribution names); ``None`` for one not installed."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class TorchImageEncoder(ImageEncoder):
    """An ImageEncoder around a torch module. Subclasses implement ``_load``, ``preprocess``, ``forward``."""

    name: str = "torch"
    #: Which model output is the embedding (recorded in the fingerprint).
    embedding_description: str = ""
    #: Run fp16/bf16 as autocast over fp32 weights instead of casting the weights. Why: a blanket
    #: half cast breaks modules that keep their norms in fp32 (open_clip's LayerNorm in LongCLIP).
    half_via_autocast: bool = False

    def __init__(
        self,
        checkpoint: str,
        device: str = "cpu",
        dtype: str = "fp32",
        batch_size: int = 8,
        *,
        defer_weights: bool = False,
    ) -> None:
        if batch_size < 1:
            raise EncoderError(f"Encoder batch size must be at least 1 (got {batch_size}).", "Pass 1 or more.")
        self.checkpoint = resolve_checkpoint(checkpoint, self.name)
        self.device = device
        self.dtype = dtype
        self.torch_dtype = torch_dtype(dtype)
        self.batch_size = batch_size
        self.revision: str = ""
        self._fingerprint: dict[str, Any] | None = None
        self.model: Any = None
        #: How many times the weights were loaded (deferred encoders: once, at scoring).
        self.weights_loads = 0
        self._describe(self.checkpoint)
        if not self.revision:
            raise AssertionError(f"{type(self).__name__}._describe must set self.revision")
        if not defer_weights:
            self.load_weights()

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _load(self, checkpoint: ResolvedCheckpoint) -> None:
        """Load model + preprocessing onto ``self.device``/``self.torch_dtype``; set ``self.revision``."""

    def _describe(self, checkpoint: ResolvedCheckpoint) -> None:
        """Resolve and validate the checkpoint and build the preprocessing, without the weights:
        everything ``fingerprint`` needs, and every check that fails fast. Default (an encoder that
        does not split the two): the full ``_load``."""
        self._load(checkpoint)
        self.weights_loads += 1

    def _load_weights(self) -> None:
        """Load the weights ``_describe`` left out into ``self.model``. Default: ``_load`` again."""
        self._load(self.checkpoint)

    # -- weights --------------------------------------------------------------------------------
    @property
    def weights_loaded(self) -> bool:
        """Whether the weights are in memory now (never loads them)."""
        return self.model is not None

    def load_weights(self) -> None:
        """Load the weights onto ``self.device`` unless they already are (idempotent).

        Why separate from the constructor: the runner describes the encoders before any model
        work (a missing or wrong checkpoint fails then) but loads their weights only for scoring,
        so they never share the device with the model under test."""
        if self.model is None:
            logger.info("loading the %s encoder weights on %s (%s)", self.name, self.device, self.dtype)
            self._load_weights()
            self.weights_loads += 1

    @abstractmethod
    def preprocess(self, images: Sequence[Image]) -> torch.Tensor:
        """PIL images -> a float pixel tensor (N, 3, H, W) in the model's input space."""

    @abstractmethod
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Preprocessed pixels (already on device/dtype) -> raw (N, D) embeddings."""

    @abstractmethod
    def preprocessing_description(self) -> dict[str, Any]:
        """Everything about preprocessing that changes the embedding."""

    # -- shared behaviour -----------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the embedding, library versions included: the reference-feature
        cache is keyed on it, so features computed by another torch / transformers / Pillow are
        never reused."""
        if self._fingerprint is None:
            self._fingerprint = {
                "encoder": self.name,
                "checkpoint": self.checkpoint.raw,
                "revision": self.revision,
                "preprocessing": self.preprocessing_description(),
                "embedding": self.embedding_description,
                "dtype": self.dtype,
                "precision": self.precision_description(),
                "libraries": library_versions(self.libraries),
            }
        return self._fingerprint

    #: Distributions whose versions change this encoder's numbers.
    libraries: tuple[str, ...] = ("torch", "torchvision", "transformers", "pillow", "numpy")

    def precision_description(self) -> str:
        if self.dtype == "fp32":
            return "fp32"
        if self.half_via_autocast:
            return f"{self.dtype} autocast over fp32 weights (norms in fp32)"
        return f"{self.dtype} weights"

    def _autocast(self) -> Any:
        import contextlib

        import torch

        if self.dtype == "fp32" or not self.half_via_autocast:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=self.torch_dtype)

    def embed(self, images: Sequence[Image]) -> np.ndarray:
        """Images -> (N, D) float32 unit rows, preprocessed and encoded ``batch_size`` at a time."""
        import numpy as np
        import torch

        images = list(images)
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        self.load_weights()
        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [im.convert("RGB") if im.mode != "RGB" else im
                         for im in images[start : start + self.batch_size]]
                input_dtype = torch.float32 if self.half_via_autocast else self.torch_dtype
                pixels = self.preprocess(batch).to(self.device, input_dtype)
                with self._autocast():
                    feats = self.forward(pixels).float()
                rows.append(torch.nn.functional.normalize(feats, dim=-1).cpu())
        return torch.cat(rows).numpy().astype(np.float32, copy=False)
