"""Zero-shot colour classification of object crops with open_clip, as the official GenEval scorer does it.

The official recipe (``evaluate_images.py`` + clip_benchmark's zero-shot classifier):

* model: open_clip ``ViT-L-14`` with OpenAI weights. Those weights were trained with QuickGELU, and
  open_clip >= 2.29 builds ``ViT-L-14`` + ``openai`` with plain GELU (a warning, not an error), which
  silently changes every prediction. The default here is therefore ``ViT-L-14-quickgelu``; any other
  architecture given with the ``openai`` tag is built with ``force_quick_gelu=True`` (recorded).
* crop: the instance mask pastes the object onto a #999999 grey canvas of the image's size (no mask:
  the image itself), cropped to the detection box (PIL rounds the float box), then the model's
  validation transform (resize shortest side, centre crop, CLIP mean/std).
* classifier per class: for each of the 10 colours the prompts "a photo of a {color} {class}",
  "a photo of a {color}-colored {class}", "a photo of a {color} object", each text embedding
  L2-normalised, averaged over the three prompts and normalised again; a crop gets the colour with
  the highest cosine similarity. Text embeddings are computed once per class and reused.
* precision: the official scorer runs under CUDA fp16 autocast (clip_benchmark's default ``amp``);
  ``precision="auto"`` does the same on CUDA and uses fp32 on CPU.

Unlike the official loop (one image, one clause at a time), ``classify_crops`` embeds the crops of many
images and clauses in fixed-size batches.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.errors import EncoderError
from unified_bench.tasks.geneval.judge import COLORS, Detection

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-L-14-quickgelu"
DEFAULT_PRETRAINED = "openai"
#: Background the official scorer pastes masked objects onto (its ``bgcolor`` default "#999").
BACKGROUND = "#999999"
TEMPLATES: tuple[str, ...] = ("a photo of a {color} {cls}", "a photo of a {color}-colored {cls}",
                              "a photo of a {color} object")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def object_crop(image: Image, detection: Detection, background: str = BACKGROUND) -> Image:
    """The official crop: mask pasted on a grey canvas (when there is a mask), cropped to the box."""
    from PIL import Image as PILImage

    image = image.convert("RGB")
    mask = detection.mask
    if mask is not None:
        import numpy as np

        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (image.height, image.width):
            raise ValueError(f"mask of shape {mask.shape} does not match the image ({image.height}, {image.width})")
        blank = PILImage.new("RGB", image.size, color=background)
        image = PILImage.composite(image, blank, PILImage.fromarray(mask))
    return image.crop(tuple(detection.box[:4]))


class ColourClassifier:
    """open_clip zero-shot colour classifier; ``classify_crops`` is batched, text embeddings are cached."""

    def __init__(self, model: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED,
                 device: str = "cpu", precision: str = "auto", batch_size: int = 32,
                 background: str = BACKGROUND) -> None:
        if precision not in PRECISIONS:
            raise EncoderError(f"Unknown colour-classifier precision '{precision}'.", f"Use one of {PRECISIONS}.")
        if batch_size < 1:
            raise EncoderError(f"Colour batch size must be at least 1 (got {batch_size}).", "Pass 1 or more.")
        self.model_name = model
        self.local = model.startswith("local-dir:")
        self.pretrained = None if self.local else pretrained
        self.device = device
        self.precision = "fp16" if precision == "auto" and str(device).startswith("cuda") else (
            "fp32" if precision == "auto" else precision)
        self.batch_size = batch_size
        self.background = background
        # OpenAI weights were trained with QuickGELU; a plain-GELU architecture would silently differ.
        self.force_quick_gelu = (self.pretrained == "openai" and not model.endswith("-quickgelu"))
        self._text: dict[str, torch.Tensor] = {}
        self._load()

    def _load(self) -> None:
        from unified_bench.errors import require

        open_clip = require("open_clip", "pip install open_clip_torch")
        try:
            self.model, _, self.transform = open_clip.create_model_and_transforms(
                self.model_name, pretrained=self.pretrained, device=self.device,
                force_quick_gelu=self.force_quick_gelu)
            self.tokenizer = open_clip.get_tokenizer(self.model_name)
        except (RuntimeError, OSError, ValueError) as exc:
            raise EncoderError(
                f"Cannot load the colour classifier open_clip '{self.model_name}' (pretrained={self.pretrained}): "
                f"{type(exc).__name__}: {exc}",
                "Check the network (the OpenAI ViT-L-14 weights are downloaded once by open_clip), or pass "
                "'local-dir:/path' holding open_clip_config.json + open_clip_model.safetensors.",
            ) from exc
        self.model.eval()
        if self.local:
            from unified_bench.core.hashing import content_hash

            self.revision = content_hash(self.model_name.split(":", 1)[1])
        else:
            self.revision = f"open_clip {open_clip.__version__} pretrained={self.pretrained}"
        quick = any(type(m).__name__ == "QuickGELU" for m in self.model.modules())
        if self.pretrained == "openai" and not quick:
            raise EncoderError(f"open_clip built '{self.model_name}' without QuickGELU for the OpenAI weights.",
                               f"Use {DEFAULT_MODEL}.")
        self.quick_gelu = quick

    def identity(self) -> dict[str, Any]:
        return {"model": self.model_name, "pretrained": self.pretrained, "revision": self.revision,
                "quick_gelu": self.quick_gelu, "precision": self.precision, "background": self.background,
                "templates": list(TEMPLATES), "colours": list(COLORS)}

    def _autocast(self):
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=str(self.device).split(":")[0], dtype=dtype)

    def text_embeddings(self, class_name: str) -> torch.Tensor:
        """(10, D) unit colour embeddings of one class (three prompts averaged), computed once."""
        import torch
        import torch.nn.functional as F

        if class_name not in self._text:
            texts = [t.format(color=c, cls=class_name) for c in COLORS for t in TEMPLATES]
            with torch.inference_mode(), self._autocast():
                emb = self.model.encode_text(self.tokenizer(texts).to(self.device))
                emb = F.normalize(emb, dim=-1).reshape(len(COLORS), len(TEMPLATES), -1).mean(dim=1)
                emb = emb / emb.norm(dim=-1, keepdim=True)
            self._text[class_name] = emb
        return self._text[class_name]

    def classify_crops(self, crops: Sequence[tuple[Image, str]]) -> list[str]:
        """(crop, class name) pairs -> one colour each, embedded ``batch_size`` crops at a time."""
        import torch
        import torch.nn.functional as F

        out: list[str] = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            pixels = torch.stack([self.transform(im) for im, _ in chunk]).to(self.device)
            with torch.inference_mode(), self._autocast():
                feats = F.normalize(self.model.encode_image(pixels), dim=-1)
                for row, (_, name) in enumerate(chunk):
                    logits = feats[row] @ self.text_embeddings(name).T
                    out.append(COLORS[int(logits.argmax())])
        return out

    def classify(self, image: Image, objects: Sequence[Detection], class_name: str) -> list[str]:
        """One image's objects of one class (the official per-clause call)."""
        return self.classify_crops([(object_crop(image, d, self.background), class_name) for d in objects])
