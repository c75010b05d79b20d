"""Mask2Former COCO instance segmentation through transformers (default: Swin-S, the official architecture).

Why not transformers' ``post_process_instance_segmentation``: it resizes every mask to a fixed 384x384
and then nearest-neighbour to the image, rounds scores to 6 decimals and loops over queries in Python.
The official scorer gets mmdet's instance post-processing, reproduced here, vectorised per image:

* class probabilities = softmax over the classes without "no object"; the top ``max_per_image``
  (query, class) pairs over all queries x classes (mmdet: ``topk(..., sorted=False)``, 100);
* mask logits upsampled (bilinear) to the network input, cropped to the valid (unpadded) region, resized
  (bilinear) to the original image; binary mask = logit > 0;
* score = class probability x mean sigmoid inside the binary mask; box = the mask's extent
  (mmdet ``mask2bbox``: x_min, y_min, x_max + 1, y_max + 1).

Pairs whose class probability is <= ``score_floor`` are dropped before the masks are upsampled: the
final score can only be lower, so no detection the judge could keep is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.metrics.detectors.base import (
    Detections,
    TransformersDetector,
    group_by_size,
    masks_to_boxes,
)
from unified_bench.tasks.geneval.judge import Detection

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

DEFAULT_CHECKPOINT = "facebook/mask2former-swin-small-coco-instance"


class Mask2FormerDetector(TransformersDetector):
    name = "mask2former"
    model_types = ("mask2former",)
    default_checkpoint = DEFAULT_CHECKPOINT

    def __init__(self, checkpoint: str | None = None, device: str = "cpu", dtype: str = "fp32",
                 batch_size: int = 4, score_floor: float = 0.3, max_per_image: int = 100) -> None:
        self.max_per_image = int(max_per_image)
        super().__init__(checkpoint, device, dtype, batch_size, score_floor)

    def _model_class(self):
        from transformers import Mask2FormerForUniversalSegmentation

        return Mask2FormerForUniversalSegmentation

    def _processor_class(self):
        from transformers import AutoImageProcessor

        return AutoImageProcessor

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["max_per_image"] = self.max_per_image
        out["postprocess"] = "mmdet-style instance post-processing (topk over queries x classes, mask2bbox)"
        return out

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        import torch

        images = [im.convert("RGB") if im.mode != "RGB" else im for im in images]
        results: list[Detections | None] = [None] * len(images)
        for chunk in group_by_size(images, self.batch_size):
            batch = [images[i] for i in chunk]
            inputs = self.processor(images=batch, return_tensors="pt")
            pixels = inputs["pixel_values"].to(self.device, self.torch_dtype)
            pixel_mask = inputs.get("pixel_mask")
            with torch.inference_mode():
                out = self.model(pixel_values=pixels)
                for j, i in enumerate(chunk):
                    valid = pixels.shape[-2:]
                    if pixel_mask is not None:
                        pm = pixel_mask[j].bool()
                        valid = (int(pm.any(dim=1).sum()), int(pm.any(dim=0).sum()))
                    results[i] = self._postprocess(
                        out.class_queries_logits[j], out.masks_queries_logits[j], tuple(pixels.shape[-2:]),
                        valid, (batch[j].height, batch[j].width),
                    )
        return results  # type: ignore[return-value]

    def _postprocess(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, input_hw: tuple[int, int],
                     valid_hw: tuple[int, int], image_hw: tuple[int, int]) -> Detections:
        import torch
        import torch.nn.functional as F

        probs = class_logits.float().softmax(-1)[:, :-1]  # (Q, C): drop "no object"
        n_queries, n_classes = probs.shape
        top_scores, top = probs.flatten().topk(min(self.max_per_image, probs.numel()), sorted=False)
        keep = top_scores > self.score_floor
        top_scores, top = top_scores[keep], top[keep]
        detections: Detections = {}
        if top.numel() == 0:
            return detections
        labels, queries = top % n_classes, torch.div(top, n_classes, rounding_mode="floor")
        logits = mask_logits[queries].float()[None]
        logits = F.interpolate(logits, size=input_hw, mode="bilinear", align_corners=False)
        logits = logits[..., : valid_hw[0], : valid_hw[1]]
        logits = F.interpolate(logits, size=image_hw, mode="bilinear", align_corners=False)[0]
        binary = logits > 0
        fbin = binary.flatten(1).float()
        mask_scores = (logits.sigmoid().flatten(1) * fbin).sum(1) / (fbin.sum(1) + 1e-6)
        scores = top_scores * mask_scores
        boxes = masks_to_boxes(binary)
        keep = (scores > self.score_floor).nonzero().flatten().tolist()
        if not keep:
            return detections
        boxes_l = boxes.cpu().tolist()
        scores_l = scores.cpu().tolist()
        labels_l = labels.cpu().tolist()
        masks_np = binary[keep].cpu().numpy()
        for row, k in enumerate(keep):
            name = self.labels.get(labels_l[k])
            if name is None:
                continue
            detections.setdefault(name, []).append(Detection(tuple(boxes_l[k]), scores_l[k], masks_np[row]))
        return detections
