"""The official detector: mmdet 2.x Mask2Former Swin-S with the weights the official scorer downloads.

Optional: used only when mmdet (and a matching mmcv-full) happens to be installed; nothing else in
Unified-Bench needs it. This is the only backend whose detections are the official scorer's, so the only
one whose scores are labelled comparable with published GenEval numbers. Not exercised by the test
suite (mmdet cannot be installed here); its output conversion mirrors ``evaluate_images.py``: per class
an (N, 5) array of x1, y1, x2, y2, score and, when present, N masks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unified_bench.errors import MissingDependencyError
from unified_bench.metrics.detectors.base import Detections, Detector, DetectorError
from unified_bench.metrics.detectors.labels import COCO_LABELS, geneval_name

if TYPE_CHECKING:
    from PIL.Image import Image

CONFIG_NAME = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco"
WEIGHTS_URL = ("https://download.openmmlab.com/mmdetection/v2.0/mask2former/" + CONFIG_NAME + "/" + CONFIG_NAME
               + "_20220504_001756-743b7d99.pth")


class MMDetDetector(Detector):
    name = "mmdet"
    official = True

    def __init__(self, checkpoint: str | None = None, device: str = "cuda", config: str | None = None,
                 batch_size: int = 1, **_: Any) -> None:
        try:
            import mmdet
            from mmdet.apis import init_detector
        except ImportError as exc:
            raise MissingDependencyError(
                "The mmdet detector backend needs mmdet 2.x and mmcv-full, which are not installed.",
                "Use the default transformers backend (mask2former), or install mmdet as the official GenEval "
                "README describes.",
            ) from exc
        if not checkpoint or not os.path.isfile(checkpoint):
            raise DetectorError(f"The mmdet backend needs the official weights file; got {checkpoint!r}.",
                                f"Download {WEIGHTS_URL} and pass its path as the detector checkpoint.")
        self.config = config or os.path.join(os.path.dirname(mmdet.__file__),
                                             f"../configs/mask2former/{CONFIG_NAME}.py")
        self.checkpoint = checkpoint
        self.device = device
        from unified_bench.core.hashing import sha256_file

        self.revision = sha256_file(checkpoint)
        self.model = init_detector(self.config, checkpoint, device=device)
        self.labels = {i: geneval_name(name) for i, name in enumerate(COCO_LABELS)}

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "checkpoint": os.path.basename(self.checkpoint), "revision": self.revision,
                "config": os.path.basename(self.config), "official": True}

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        import numpy as np
        from mmdet.apis import inference_detector

        from unified_bench.tasks.geneval.judge import Detection

        out: list[Detections] = []
        for image in images:
            # mmdet expects BGR arrays, as it would read them from disk.
            result = inference_detector(self.model, np.asarray(image.convert("RGB"))[..., ::-1].copy())
            bbox = result[0] if isinstance(result, tuple) else result
            segm = result[1] if isinstance(result, tuple) and len(result) > 1 else None
            dets: Detections = {}
            for index, rows in enumerate(bbox):
                name = self.labels[index]
                for k, row in enumerate(rows):
                    mask = None if segm is None else np.asarray(segm[index][k], dtype=bool)
                    dets.setdefault(name, []).append(Detection(tuple(float(v) for v in row[:4]), float(row[4]), mask))
            out.append(dets)
        return out
