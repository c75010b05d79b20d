"""The detector interface: images -> per GenEval class, raw detections (box, score, mask).

Why: the GenEval judge needs, per image and per class, detections in the detector's own order before
any thresholding (the judge applies ordering, thresholds and the cap). Every backend (transformers
Mask2Former, OWLv2, the official mmdet weights) returns exactly that, batched, and names itself in
``identity()`` so results record which backend, checkpoint and revision produced a score, and whether
it is directly comparable with published GenEval numbers (only the official mmdet weights are).
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.core.hub import commit_from_cached_path
from unified_bench.errors import EncoderError
from unified_bench.metrics.detectors.labels import label_map, unmapped_classes
from unified_bench.metrics.encoders.checkpoints import (
    ResolvedCheckpoint,
    hub_error,
    hub_file,
    local_load_error,
    resolve_checkpoint,
    torch_dtype,
)
from unified_bench.tasks.geneval.judge import Detection

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

logger = logging.getLogger(__name__)

#: Per image: GenEval class name -> raw detections in the detector's output order.
Detections = dict[str, list[Detection]]

#: Said next to every score from a backend other than the official mmdet weights.
NOT_COMPARABLE = ("scored with a non-official detector backend: not directly comparable with published "
                  "GenEval numbers (official: mmdet Mask2Former Swin-S weights)")


class DetectorError(EncoderError):
    """A detector that cannot be loaded or used (missing weights, labels that miss GenEval classes)."""


class Detector(ABC):
    """Batched detection. Subclasses implement ``detect`` and fill ``identity()``'s fields."""

    #: Backend name (registry key).
    name: str = "detector"
    #: True only for the backend that reproduces the official scorer's detections.
    official: bool = False

    @abstractmethod
    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """One dict per image: GenEval class -> detections (box x1,y1,x2,y2 px; score; bool mask or None)."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """backend, checkpoint, revision and every setting that changes detections."""

    def fingerprint(self) -> str:
        """Short stable hash of ``identity()`` (cache keys, results)."""
        blob = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return f"{self.name}-{hashlib.sha256(blob).hexdigest()[:16]}"

    def close(self) -> None:
        """Release model memory (GPU memory in particular)."""
        for attr in ("model", "processor"):
            if hasattr(self, attr):
                setattr(self, attr, None)


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool masks -> (N, 4) float32 boxes, as mmdet's ``mask2bbox``: (x_min, y_min, x_max+1, y_max+1).

    An empty mask gets the box (0, 0, 0, 0).
    """
    import torch

    n, h, w = masks.shape
    boxes = torch.zeros((n, 4), dtype=torch.float32, device=masks.device)
    if n == 0:
        return boxes
    x_any, y_any = masks.any(dim=1), masks.any(dim=2)  # (N, W), (N, H)
    xs = torch.arange(w, device=masks.device).expand(n, w)
    ys = torch.arange(h, device=masks.device).expand(n, h)
    big = max(h, w) + 1
    boxes[:, 0] = torch.where(x_any, xs, big).min(dim=1).values.float()
    boxes[:, 1] = torch.where(y_any, ys, big).min(dim=1).values.float()
    boxes[:, 2] = torch.where(x_any, xs, -1).max(dim=1).values.float() + 1
    boxes[:, 3] = torch.where(y_any, ys, -1).max(dim=1).values.float() + 1
    empty = ~x_any.any(dim=1)
    boxes[empty] = 0
    return boxes


def group_by_size(images: Sequence[Image], batch_size: int) -> list[list[int]]:
    """Indices of ``images`` in batches of equal-size images (in input order within a size).

    Why: same-size batches need no padding, so a batched image sees exactly the pixels it would see
    alone, and batched detections equal one-at-a-time ones.
    """
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, im in enumerate(images):
        groups[im.size].append(i)
    return [idx[s : s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]


class TransformersDetector(Detector):
    """Shared loading for detectors shipped as a transformers model + processor."""

    #: config.model_type values this backend accepts.
    model_types: tuple[str, ...] = ()
    default_checkpoint: str = ""

    def __init__(self, checkpoint: str | None = None, device: str = "cpu", dtype: str = "fp32",
                 batch_size: int = 4, score_floor: float = 0.3) -> None:
        if batch_size < 1:
            raise DetectorError(f"Detector batch size must be at least 1 (got {batch_size}).", "Pass 1 or more.")
        self.checkpoint: ResolvedCheckpoint = resolve_checkpoint(checkpoint or self.default_checkpoint, self.name)
        self.device = device
        self.dtype = dtype
        self.torch_dtype = torch_dtype(dtype)
        self.batch_size = batch_size
        #: Detections scoring <= this are dropped early (the judge's lowest threshold; never changes a verdict).
        self.score_floor = float(score_floor)
        self.revision = ""
        self.model: Any = None
        self.processor: Any = None
        self._load()
        #: Model label id -> GenEval class name.
        self.labels: dict[int, str] = self._label_map()
        self._check_labels()

    def _model_class(self):
        raise NotImplementedError

    def _processor_class(self):
        from transformers import AutoProcessor

        return AutoProcessor

    def _label_map(self) -> dict[int, str]:
        return label_map(self.model.config.id2label)

    def _check_labels(self) -> None:
        missing = unmapped_classes(self.labels.values())
        if missing:
            raise DetectorError(
                f"The {self.name} checkpoint '{self.checkpoint.raw}' has no label for {len(missing)} GenEval "
                f"class(es): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}.",
                "Use a COCO instance-segmentation checkpoint (80 COCO labels), e.g. "
                f"{self.default_checkpoint}.",
            )

    def _load(self) -> None:
        ckpt = self.checkpoint
        revision = None
        if ckpt.is_hub:
            config_path = hub_file(ckpt.location, "config.json", self.name)
            revision = commit_from_cached_path(config_path)
            self.revision = revision or "unknown"
        else:
            config_path = Path(ckpt.location) / "config.json"
            if not config_path.is_file():
                raise DetectorError(
                    f"'{ckpt.location}' is not a saved {self.name} model (no config.json in it).",
                    "Pass the directory written by save_pretrained, or the model's hub repo id.",
                )
            from unified_bench.core.hashing import content_hash

            self.revision = content_hash(ckpt.location)
        model_type = json.loads(Path(config_path).read_text()).get("model_type", "")
        if self.model_types and model_type not in self.model_types:
            raise DetectorError(
                f"Checkpoint '{ckpt.raw}' is a '{model_type}' model, not a {self.name} model.",
                f"Pass a {self.name} checkpoint (model_type {', '.join(self.model_types)}).",
            )
        try:
            self.processor = self._processor_class().from_pretrained(ckpt.location, revision=revision)
            self.model = self._model_class().from_pretrained(ckpt.location, revision=revision, dtype=self.torch_dtype)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            if ckpt.is_hub:
                mapped = hub_error(exc, ckpt.location, self.name)
                if mapped is exc:
                    raise
                raise mapped from exc
            raise local_load_error(exc, ckpt.location, self.name) from exc
        self.model.to(self.device).eval()

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "checkpoint": self.checkpoint.raw,
            "revision": self.revision,
            "dtype": self.dtype,
            "score_floor": self.score_floor,
            "official": self.official,
        }
