"""Base for encoders shipped as transformers models + image processors (CLIP, DINOv2, DINOv3).

Why: the three share the loading path a user's checkpoint takes - a hub repo id pinned to the
commit the hub cache resolved, or a local ``save_pretrained`` directory pinned to a content hash -
and the same error mapping; they differ only in the model class and which output is the embedding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.core.hashing import content_hash
from unified_bench.core.hub import commit_from_cached_path
from unified_bench.errors import EncoderError
from unified_bench.metrics.encoders.checkpoints import (
    ResolvedCheckpoint,
    hub_error,
    hub_file,
    local_load_error,
)
from unified_bench.metrics.encoders.torch_encoder import TorchImageEncoder

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

#: Image-processor settings that change the pixels the model sees.
_PROCESSOR_KEYS = (
    "do_resize", "size", "resample", "do_center_crop", "crop_size", "do_rescale", "rescale_factor",
    "do_normalize", "image_mean", "image_std", "do_convert_rgb",
)


def processor_backend(processor: Any) -> str:
    """"pil" or "torchvision": which implementation an image processor instance really is."""
    names = [cls.__name__ for cls in type(processor).__mro__]
    if "PilBackend" in names:
        return "pil"
    if "TorchvisionBackend" in names:
        return "torchvision"
    return "unknown"


#: Weight files a saved transformers model holds (single file or sharded).
_WEIGHT_FILES = (
    "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
)


class HFImageEncoder(TorchImageEncoder):
    """A transformers vision model + its AutoImageProcessor, on a pinned image-processing backend."""

    #: config.model_type values this encoder accepts (a CLIP checkpoint given to DINOv3 is an error).
    model_types: tuple[str, ...] = ()
    #: transformers image-processor backend ("pil" or "torchvision"). Why pinned: transformers 5
    #: resolves a processor name such as ``CLIPImageProcessor`` to its torchvision implementation,
    #: whose resize differs from the PIL one by up to 2 grey levels; the paper ran transformers 4.x,
    #: where CLIP's and DINOv2's processors were the PIL implementations.
    image_backend: str = "pil"

    def _model_class(self):
        """The transformers class whose ``from_pretrained`` loads the model."""
        raise NotImplementedError

    def _load(self, checkpoint: ResolvedCheckpoint) -> None:
        self._describe(checkpoint)
        self._load_weights()

    def _describe(self, checkpoint: ResolvedCheckpoint) -> None:
        """Revision, architecture check, weight files present and readable, image processor."""
        from safetensors import SafetensorError
        from transformers import AutoImageProcessor

        revision = None
        if checkpoint.is_hub:
            config_path = hub_file(checkpoint.location, "config.json", self.name)
            revision = commit_from_cached_path(config_path)
            self.revision = revision or "unknown"
        else:
            if not (Path(checkpoint.location) / "config.json").is_file():
                raise EncoderError(
                    f"'{checkpoint.location}' is not a saved {self.name} model (no config.json in it).",
                    "Pass the directory written by save_pretrained, or the model's hub repo id.",
                )
            config_path = Path(checkpoint.location) / "config.json"
            self.revision = content_hash(checkpoint.location)
        self._hub_revision = revision
        # Checked on the saved config, before loading: a model class given another architecture's
        # config may "load" it with random weights and a mere warning.
        model_type = json.loads(Path(config_path).read_text()).get("model_type", "")
        if self.model_types and model_type not in self.model_types:
            raise EncoderError(
                f"Checkpoint '{checkpoint.raw}' is a '{model_type}' model, not a {self.name} model.",
                f"Pass a {self.name} checkpoint (model_type {', '.join(self.model_types)}).",
            )
        try:
            self.processor = AutoImageProcessor.from_pretrained(
                checkpoint.location, revision=revision, backend=self.image_backend
            )
            self._check_weight_files(checkpoint, Path(config_path).parent)
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
            mapped = self._load_error(exc, checkpoint)
            if mapped is exc:
                raise
            raise mapped from exc
        self._check_backend()

    def _check_weight_files(self, checkpoint: ResolvedCheckpoint, folder: Path) -> None:
        """Weights present (a hub checkpoint's are downloaded now) and safetensors headers readable.

        Why now: the weights themselves load only for scoring, after the model stages; a missing or
        truncated file must still fail the run before any model work."""
        files = [folder / n for n in _WEIGHT_FILES if (folder / n).is_file()]
        if checkpoint.is_hub and not files:
            for name in _WEIGHT_FILES[:2]:
                try:
                    files = [hub_file(checkpoint.location, name, self.name, revision=self._hub_revision)]
                    break
                except EncoderError:
                    continue
        if not files:
            raise OSError(f"no weight file ({', '.join(_WEIGHT_FILES)}) in {folder}")
        for path in files:
            if path.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(path), framework="pt") as handle:  # reads the header only
                    handle.keys()

    def _load_weights(self) -> None:
        checkpoint = self.checkpoint
        try:
            # Straight onto the device in the requested dtype (no fp32 copy in host RAM first).
            self.model = self._model_class().from_pretrained(
                checkpoint.location, revision=self._hub_revision, dtype=self.torch_dtype, device_map=self.device
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            mapped = self._load_error(exc, checkpoint)
            if mapped is exc:
                raise
            raise mapped from exc
        self.model.eval()

    def _load_error(self, exc: BaseException, checkpoint: ResolvedCheckpoint) -> BaseException:
        if checkpoint.is_hub:
            mapped = hub_error(exc, checkpoint.location, self.name)
            return exc if mapped is exc else mapped
        return local_load_error(exc, checkpoint.location, self.name)

    def _check_backend(self) -> None:
        """Refuse a processor that silently fell back to another backend than the protocol's."""
        actual = processor_backend(self.processor)
        if actual != self.image_backend:
            raise EncoderError(
                f"The {self.name} image processor runs on the {actual} backend, not {self.image_backend} "
                f"({type(self.processor).__name__}); scores would not match the reference protocol.",
                "Install torchvision (paired with your torch) for DINOv3; for CLIP/DINOv2 use a "
                "transformers version whose processors offer the PIL backend (>= 5.0).",
            )

    def preprocess(self, images: Sequence[Image]) -> torch.Tensor:
        return self.processor(images=list(images), return_tensors="pt")["pixel_values"]

    def preprocessing_description(self) -> dict[str, Any]:
        cfg = self.processor.to_dict()
        desc: dict[str, Any] = {
            "processor": type(self.processor).__name__,
            "backend": processor_backend(self.processor),
        }
        desc.update({k: cfg[k] for k in _PROCESSOR_KEYS if k in cfg})
        return desc
