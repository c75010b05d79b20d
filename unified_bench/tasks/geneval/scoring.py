"""Score batches of (metadata, image) with a detector, a colour classifier and the pure judge.

Why batched in two passes: the official scorer runs the detector on one image, then CLIP on one
clause's crops, then the next image. Here the detector sees a whole batch; the judge's selection rules
(``select_detections``) then say exactly which objects need a colour (the top-``count`` objects of each
coloured include clause that has enough of them; colour comes before position and depends on nothing
else), so all crops of the batch are classified in one batched call, and the judge runs with those
answers. The verdicts equal the one-at-a-time ones.

A missing image (``None``) or one that cannot be read is judged wrong with its reason and status, so it
counts in every denominator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.tasks.geneval.judge import Detection, JudgeOptions, judge_kept, select_detections

if TYPE_CHECKING:
    from PIL.Image import Image

    from unified_bench.metrics.detectors.base import Detector
    from unified_bench.tasks.geneval.colours import ColourClassifier

logger = logging.getLogger(__name__)

#: Status values of a scored image.
OK, MISSING, FAILED = "ok", "missing", "failed"


def open_image(path: str | Path) -> Image:
    """Open as the official scorer does: EXIF orientation applied, converted to RGB."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def _record(correct: bool, reason: str, status: str, kept: Mapping[str, Any] | None = None,
            clauses: list | None = None, error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"correct": correct, "reason": reason, "status": status,
                           "kept": dict(kept or {}), "clauses": list(clauses or [])}
    if error is not None:
        out["error"] = error
    return out


class GenevalScorer:
    """``score_batch(items)`` -> one JSON-able verdict dict per item (see ``_record``)."""

    def __init__(self, detector: Detector, colours: ColourClassifier, options: JudgeOptions | None = None) -> None:
        self.detector = detector
        self.colours = colours
        self.options = options or JudgeOptions()
        floor = getattr(detector, "score_floor", None)
        lowest = min(self.options.threshold, self.options.counting_threshold)
        if floor is not None and floor > lowest:
            raise ValueError(f"the detector drops scores <= {floor}, above the judge's lowest threshold {lowest}: "
                             "detections the judge would keep would be lost")

    def identity(self) -> dict[str, Any]:
        """Everything that changes a verdict, for results: detector, colour model, judge options."""
        from unified_bench.metrics.detectors.base import NOT_COMPARABLE

        official = bool(getattr(self.detector, "official", False))
        return {"detector": self.detector.identity(), "colour_classifier": self.colours.identity(),
                "judge": self.options.to_dict(), "comparable_with_official": official,
                "comparability": "official detector weights" if official else NOT_COMPARABLE}

    def score_batch(self, items: Sequence[tuple[Mapping[str, Any], Image | str | Path | None]]) -> list[dict[str, Any]]:
        """Judge each (metadata, image) pair; the image may be a PIL image, a path, or None (missing)."""
        from unified_bench.tasks.geneval.colours import object_crop

        results: list[dict[str, Any] | None] = [None] * len(items)
        images: dict[int, Image] = {}
        for i, (_, image) in enumerate(items):
            if image is None:
                results[i] = _record(False, "missing image", MISSING)
                continue
            if isinstance(image, (str, Path)):
                try:
                    image = open_image(image)
                except (OSError, ValueError) as exc:  # PIL raises OSError subclasses for bad files
                    results[i] = _record(False, f"unreadable image: {exc}", FAILED, error=f"{type(exc).__name__}: {exc}")
                    continue
            images[i] = image
        order = list(images)
        detections = self.detector.detect([images[i] for i in order]) if order else []
        kept_by_item = {i: select_detections(dets, str(items[i][0].get("tag", "")), self.options)
                        for i, dets in zip(order, detections, strict=True)}
        # Pass 1: every crop the judge will ask a colour for, across the whole batch.
        wanted: list[tuple[int, str, Detection]] = []
        for i, kept in kept_by_item.items():
            for req in items[i][0].get("include", []):
                found = kept.get(req["class"], ())[: int(req["count"])]
                if "color" in req and len(found) >= int(req["count"]):
                    wanted.extend((i, req["class"], d) for d in found)
        todo: dict[tuple[int, str, int], tuple[int, str, Detection]] = {}
        for i, name, d in wanted:  # an object asked for twice (two clauses of one class) is classified once
            todo.setdefault((i, name, id(d)), (i, name, d))
        crops = [(object_crop(images[i], d, self.colours.background), name) for i, name, d in todo.values()]
        answers = dict(zip(todo, self.colours.classify_crops(crops) if crops else [], strict=True))
        # Pass 2: the pure judge, answering colours from the batch results.
        for i, kept in kept_by_item.items():
            def lookup(objects: Sequence[Detection], name: str, _i: int = i) -> list[str]:
                return [answers[(_i, name, id(d))] for d in objects]

            verdict = judge_kept(items[i][0], kept, lookup, self.options).to_dict()
            results[i] = _record(verdict["correct"], verdict["reason"], OK, verdict["kept"], verdict["clauses"])
        return results  # type: ignore[return-value]

    def score_one_by_one(self, items: Sequence[tuple[Mapping[str, Any], Image]]) -> list[dict[str, Any]]:
        """The official loop: detect one image, classify one clause's crops at a time (reference/benchmark)."""
        from unified_bench.tasks.geneval.judge import judge_image

        out = []
        for metadata, image in items:
            dets = self.detector.detect([image])[0]
            verdict = judge_image(metadata, dets, lambda objs, name, im=image: self.colours.classify(im, objs, name),
                                  self.options).to_dict()
            out.append(_record(verdict["correct"], verdict["reason"], OK, verdict["kept"], verdict["clauses"]))
        return out


def make_scorer(
    detector: str = "mask2former",
    detector_checkpoint: str | None = None,
    colour_model: str = "ViT-L-14-quickgelu",
    colour_pretrained: str | None = "openai",
    device: str = "cpu",
    detector_dtype: str = "fp32",
    colour_precision: str = "auto",
    detector_batch_size: int = 4,
    colour_batch_size: int = 32,
    options: JudgeOptions | None = None,
) -> GenevalScorer:
    """Load a detector backend (by registry name) and the colour classifier, and wrap them in a scorer.

    The detector drops detections at or below the judge's lowest threshold (they can never be kept).
    ``colour_model`` may be ``local-dir:/path`` (then ``colour_pretrained`` is ignored).
    """
    from unified_bench.metrics.detectors import DETECTORS
    from unified_bench.tasks.geneval.colours import ColourClassifier

    options = options or JudgeOptions()
    floor = min(options.threshold, options.counting_threshold)
    det_cls = DETECTORS.get(detector)
    det = det_cls(detector_checkpoint, device=device, dtype=detector_dtype, batch_size=detector_batch_size,
                  score_floor=floor)
    colours = ColourClassifier(colour_model, pretrained=colour_pretrained, device=device,
                               precision=colour_precision, batch_size=colour_batch_size)
    return GenevalScorer(det, colours, options)
