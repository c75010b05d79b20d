"""Detector label names -> GenEval's 80 class names, spelt out explicitly.

Why: GenEval renames five COCO classes ("mouse" -> "computer mouse", "remote" -> "tv remote",
"keyboard" -> "computer keyboard", "hair dryer" -> "hair drier", and writes "tv" for "tv monitor"), and
checkpoints spell COCO labels in several ways (detectron2, mmdet, torchvision, VOC-style "sofa"). A
silent mismatch would make a class undetectable and its prompts always wrong, so every detector maps
its labels through this table and refuses a checkpoint that leaves a GenEval class unmapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from unified_bench.tasks.geneval.prompts import CLASSES

#: The 80 COCO instance labels as COCO's annotation file / detectron2 / the HF Mask2Former checkpoints
#: spell them (in COCO category order, which is also GenEval's order).
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

#: Every label spelling that differs from GenEval's (after lower-casing and '_'/'-' -> ' ').
ALIASES: dict[str, str] = {
    "mouse": "computer mouse",
    "remote": "tv remote",
    "keyboard": "computer keyboard",
    "hair dryer": "hair drier",
    "tv monitor": "tv",
    "tvmonitor": "tv",
    "television": "tv",
    "sofa": "couch",
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "diningtable": "dining table",
    "pottedplant": "potted plant",
    "doughnut": "donut",
    "cellphone": "cell phone",
    "mobile phone": "cell phone",
    "hotdog": "hot dog",
    "sports ball": "sports ball",
    "ball": "sports ball",
}

_CLASS_SET = frozenset(CLASSES)


def normalise_label(label: str) -> str:
    return " ".join(str(label).lower().replace("_", " ").replace("-", " ").split())


def geneval_name(label: str) -> str | None:
    """GenEval's name for a detector label, or None when the label is not one of the 80 classes."""
    norm = normalise_label(label)
    if norm in _CLASS_SET:
        return norm
    return ALIASES.get(norm)


def label_map(id2label: Mapping[int, str]) -> dict[int, str]:
    """Detector label id -> GenEval class name, for the ids that name a GenEval class."""
    out = {}
    for idx, label in id2label.items():
        name = geneval_name(label)
        if name is not None:
            out[int(idx)] = name
    return out


def unmapped_classes(names: Iterable[str]) -> list[str]:
    """GenEval classes that none of ``names`` (already mapped) covers, in GenEval order."""
    have = set(names)
    return [c for c in CLASSES if c not in have]
