"""OWLv2 open-vocabulary detection through transformers, queried with GenEval's 80 class names.

Why a second backend: an open-vocabulary detector is not tied to COCO's training distribution, which
is useful as a cross-check of the Mask2Former verdicts. It returns boxes without masks, so colour
crops use the whole box (the official scorer's behaviour when no mask is given). Each box gets the
query with the highest sigmoid score; output order is the model's box order. Scores of a different
model mean different thresholds would be appropriate: results from this backend are labelled as not
comparable with published GenEval numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.metrics.detectors.base import Detections, TransformersDetector, group_by_size
from unified_bench.tasks.geneval.judge import Detection
from unified_bench.tasks.geneval.prompts import CLASSES

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_CHECKPOINT = "google/owlv2-base-patch16-ensemble"


class Owlv2Detector(TransformersDetector):
    name = "owlv2"
    model_types = ("owlv2",)
    default_checkpoint = DEFAULT_CHECKPOINT

    def __init__(self, checkpoint: str | None = None, device: str = "cpu", dtype: str = "fp32",
                 batch_size: int = 4, score_floor: float = 0.3, query_template: str = "a photo of a {name}") -> None:
        self.query_template = query_template
        self.queries = [query_template.format(name=c) for c in CLASSES]
        super().__init__(checkpoint, device, dtype, batch_size, score_floor)

    def _model_class(self):
        from transformers import Owlv2ForObjectDetection

        return Owlv2ForObjectDetection

    def _label_map(self) -> dict[int, str]:
        return dict(enumerate(CLASSES))  # query i is GenEval class i

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["query_template"] = self.query_template
        return out

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        import torch

        images = [im.convert("RGB") if im.mode != "RGB" else im for im in images]
        results: list[Detections | None] = [None] * len(images)
        for chunk in group_by_size(images, self.batch_size):
            batch = [images[i] for i in chunk]
            inputs = self.processor(text=[self.queries] * len(batch), images=batch, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.torch_dtype)
            with torch.inference_mode():
                out = self.model(**inputs)
            out.logits = out.logits.float()
            out.pred_boxes = out.pred_boxes.float()
            post = self.processor.post_process_grounded_object_detection(
                out, threshold=self.score_floor, target_sizes=[(im.height, im.width) for im in batch])
            for j, i in enumerate(chunk):
                dets: Detections = {}
                r = post[j]
                for box, score, label in zip(r["boxes"].cpu().tolist(), r["scores"].cpu().tolist(),
                                             r["labels"].cpu().tolist(), strict=True):
                    dets.setdefault(self.labels[label], []).append(Detection(tuple(box), score, None))
                results[i] = dets
        return results  # type: ignore[return-value]
