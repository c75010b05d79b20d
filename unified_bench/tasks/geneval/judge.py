"""The GenEval judge as pure functions: raw detections + colour predictions -> correct / reason.

Why: the official scorer (djghosh13/geneval, ``evaluation/evaluate_images.py`` at af4902f24d3c)
mixes its rules with mmdet inference, CLIP and file walking, so its rules cannot be tested or reused.
Here the rules take detections and a colour-classification callable as inputs, so every rule is
checkable on hand-built boxes, and any detector backend feeds the same judge. Every number that
changes a verdict is a field of ``JudgeOptions`` and is recorded with the results.

The rules reproduced (each has a hand-derived test in ``tests/tasks/geneval/test_judge.py``):

* Per class, detections are ordered by descending score, kept if ``score > threshold`` (``> 0.9`` for
  ``counting`` prompts, for every class), at most ``max_objects`` per class, then optionally greedily
  suppressed by overlap (IoU with the +1-pixel convention ``>= max_overlap``; off at 1.0).
* Include clauses are ANDed; each uses only its class's top-``count`` kept detections. Colour is
  checked before position; position needs the target group (the detections an earlier clause kept)
  and fails if that clause failed.
* Exclude clauses are ORed and count every kept detection of their class.

Deliberate, documented choices where the official code is ambiguous:

* Ordering among equal scores: the official ``numpy.argsort(scores)[::-1]`` uses numpy's default
  sort, which on CPUs with AVX-512 (numpy >= 1.25, x86-simd-sort) is *not* stable, so the official
  order of tied detections depends on the machine. We use the stable sort reversed (the later of two
  tied detections comes first), which is what the default sort gives on machines without it.
* Scores are compared and boxes measured in float32, as the official code does on mmdet's float32
  arrays (a score that is float32(0.3) is not above a threshold of 0.3).
* The relations of a failed position check are listed in a fixed order (the official code joins a
  Python set, whose order varies between runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: GenEval's colour vocabulary, in the official order (used in reasons and by the classifier).
COLORS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black",
                           "white")
#: The four relations of position prompts, in the order reasons list them.
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")


@dataclass(frozen=True)
class JudgeOptions:
    """Every threshold of the judge; ``to_dict()`` goes into the results so a score names its rules."""

    #: Keep a detection if its score is strictly above this (all tags but counting).
    threshold: float = 0.3
    #: The same for ``counting`` prompts, applied to every class of such a prompt.
    counting_threshold: float = 0.9
    #: At most this many detections kept per class (after thresholding, before overlap suppression).
    max_objects: int = 16
    #: Greedy suppression drops a detection whose IoU with a kept one is >= this; 1.0 = off (official).
    max_overlap: float = 1.0
    #: Position margin: each offset component shrinks by this fraction of the two boxes' summed size.
    position_threshold: float = 0.1
    #: Below this (both components of the shrunk offset) two objects have no relation at all.
    position_dead_zone: float = 1e-3
    #: A relation holds when the shrunk offset, divided by the offset's length, passes this per axis.
    direction_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.max_objects < 0:
            raise ValueError(f"max_objects must be >= 0 (got {self.max_objects})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def threshold_for(self, tag: str) -> float:
        return self.counting_threshold if tag == "counting" else self.threshold


@dataclass(frozen=True, eq=False)
class Detection:
    """One detected instance: ``box`` (x1, y1, x2, y2) in pixels, ``score``, optional boolean mask (H, W)."""

    box: tuple[float, float, float, float]
    score: float
    mask: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the mask is left out: results record boxes and scores)."""
        return {"box": [float(v) for v in self.box], "score": float(self.score)}


@dataclass(frozen=True)
class ClauseResult:
    """What one include/exclude clause saw: the detections it used and whether it held."""

    kind: str  # "include" or "exclude"
    clause: Mapping[str, Any]
    objects: tuple[Detection, ...]
    passed: bool
    colours: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "clause": dict(self.clause),
            "passed": self.passed,
            "objects": [d.to_dict() for d in self.objects],
        }
        if self.colours is not None:
            out["colours"] = list(self.colours)
        return out


@dataclass(frozen=True)
class Verdict:
    """The judgement of one image. ``kept`` = detections per class after ordering/threshold/cap/suppression."""

    correct: bool
    reason: str
    kept: Mapping[str, tuple[Detection, ...]] = field(default_factory=dict)
    clauses: tuple[ClauseResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: correct, reason, kept boxes/scores per class, and each clause's outcome."""
        return {
            "correct": bool(self.correct),
            "reason": self.reason,
            "kept": {name: [d.to_dict() for d in dets] for name, dets in self.kept.items()},
            "clauses": [c.to_dict() for c in self.clauses],
        }


#: ``classify_colours(objects, class_name) -> one colour name per object``.
ColourClassifier = Callable[[Sequence[Detection], str], Sequence[str]]


def as_detection(item: Detection | Mapping[str, Any]) -> Detection:
    """Accept a ``Detection`` or a plain dict with keys box, score and optionally mask."""
    if isinstance(item, Detection):
        return item
    if isinstance(item, Mapping):
        try:
            box = tuple(float(v) for v in item["box"])
            score = float(item["score"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a detection needs 'box' (x1, y1, x2, y2) and 'score'; got {dict(item)!r}") from exc
        if len(box) != 4:
            raise ValueError(f"a detection box has 4 numbers (x1, y1, x2, y2); got {item['box']!r}")
        return Detection(box, score, item.get("mask"))  # type: ignore[arg-type]
    raise TypeError(f"expected a Detection or a dict, got {type(item).__name__}")


def box_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU with the official +1-pixel convention (a box from x1 to x2 covers x2 - x1 + 1 pixels)."""

    def area(b: Sequence[float]) -> float:
        return max(b[2] - b[0] + 1, 0) * max(b[3] - b[1] + 1, 0)

    inter = area((max(box_a[0], box_b[0]), max(box_a[1], box_b[1]),
                  min(box_a[2], box_b[2]), min(box_a[3], box_b[3])))
    union = area(box_a) + area(box_b) - inter
    return inter / union if union else 0.0


def keep_detections(
    detections: Sequence[Detection | Mapping[str, Any]], threshold: float, options: JudgeOptions
) -> list[Detection]:
    """One class's raw detections -> the kept ones, most confident first (see module docstring)."""
    dets = [as_detection(d) for d in detections]
    if not dets:
        return []
    scores = np.asarray([d.score for d in dets], dtype=np.float32)
    order = np.argsort(scores, kind="stable")[::-1]
    order = order[scores[order] > np.float32(threshold)]
    ordering = order[: options.max_objects].tolist()
    kept: list[Detection] = []
    while ordering:
        best = ordering.pop(0)
        kept.append(dets[best])
        if options.max_overlap < 1:
            ordering = [i for i in ordering if box_iou(dets[best].box, dets[i].box) < options.max_overlap]
    return kept


def select_detections(
    detections: Mapping[str, Sequence[Detection | Mapping[str, Any]]], tag: str, options: JudgeOptions | None = None
) -> dict[str, tuple[Detection, ...]]:
    """Apply ordering, threshold (per the prompt's tag), cap and suppression to every class."""
    options = options or JudgeOptions()
    threshold = options.threshold_for(tag)
    kept: dict[str, tuple[Detection, ...]] = {}
    for name, dets in detections.items():
        chosen = keep_detections(dets, threshold, options)
        if chosen:
            kept[name] = tuple(chosen)
    return kept


def relative_position(a: Detection, b: Detection, options: JudgeOptions | None = None) -> set[str]:
    """Relations of A to B from box centres and sizes, with the size margin and the dead zone.

    Computed in float32 like the official code on mmdet boxes.
    """
    options = options or JudgeOptions()
    boxes = np.asarray([a.box[:4], b.box[:4]], dtype=np.float32).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    margin = np.float32(options.position_threshold) * (dim_a + dim_b)
    revised = np.maximum(np.abs(offset) - margin, 0) * np.sign(offset)
    if np.all(np.abs(revised) < options.position_dead_zone):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    t = options.direction_threshold
    relations = set()
    if dx < -t:
        relations.add("left of")
    if dx > t:
        relations.add("right of")
    if dy < -t:
        relations.add("above")
    if dy > t:
        relations.add("below")
    return relations


def _colour_counts(colours: Sequence[str]) -> str:
    return ", ".join(f"{colours.count(c)} {c}" for c in COLORS if c in colours)


def judge_kept(
    metadata: Mapping[str, Any],
    kept: Mapping[str, Sequence[Detection]],
    classify_colours: ColourClassifier,
    options: JudgeOptions | None = None,
) -> Verdict:
    """Judge already-selected detections (the output of ``select_detections``) against one prompt."""
    options = options or JudgeOptions()
    correct = True
    reasons: list[str] = []
    clauses: list[ClauseResult] = []
    groups: list[tuple[Detection, ...] | None] = []
    for req in metadata.get("include", []):
        name, count = req["class"], int(req["count"])
        found = tuple(kept.get(name, ()))[:count]
        matched = True
        colours: tuple[str, ...] | None = None
        if len(found) < count:
            matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colours = tuple(classify_colours(list(found), name))
                if len(colours) != len(found):
                    raise ValueError(
                        f"classify_colours returned {len(colours)} colours for {len(found)} objects of {name!r}"
                    )
                hits = colours.count(req["color"])
                if hits < count:
                    matched = False
                    reasons.append(f"expected {req['color']} {name}>={count}, found {hits} {req['color']}; "
                                   f"and {_colour_counts(list(colours))}")
            if "position" in req and matched:
                relation, target = req["position"][0], int(req["position"][1])
                target_group = groups[target] if 0 <= target < len(groups) else None
                if target_group is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                else:
                    for obj in found:
                        for other in target_group:
                            rels = relative_position(obj, other, options)
                            if relation not in rels:
                                matched = False
                                found_rels = " and ".join(r for r in RELATIONS if r in rels)
                                reasons.append(f"expected {name} {relation} target, found {found_rels} target")
                                break
                        if not matched:
                            break
        correct = correct and matched
        groups.append(found if matched else None)
        clauses.append(ClauseResult("include", dict(req), found, matched, colours))
    for req in metadata.get("exclude", []):
        name, count = req["class"], int(req["count"])
        present = tuple(kept.get(name, ()))
        failed = len(present) >= count
        if failed:
            correct = False
            reasons.append(f"expected {name}<{count}, found {len(present)}")
        clauses.append(ClauseResult("exclude", dict(req), present, not failed))
    return Verdict(correct, "\n".join(reasons), {k: tuple(v) for k, v in kept.items()}, tuple(clauses))


def judge_image(
    metadata: Mapping[str, Any],
    detections: Mapping[str, Sequence[Detection | Mapping[str, Any]]],
    classify_colours: ColourClassifier,
    options: JudgeOptions | None = None,
) -> Verdict:
    """Judge one image exactly as the official GenEval scorer does.

    ``metadata``: one official metadata record (``tag``, ``include``, optional ``exclude``).
    ``detections``: GenEval class name -> raw detections in detector output order, before ordering,
    thresholding and capping (this function applies them). ``classify_colours(objects, class_name)``
    returns one colour name per object passed; it is called only for clauses with a colour.
    """
    options = options or JudgeOptions()
    kept = select_detections(detections, str(metadata.get("tag", "")), options)
    return judge_kept(metadata, kept, classify_colours, options)
