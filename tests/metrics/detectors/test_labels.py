"""Detector label names map to GenEval's 80 names, explicitly."""

from __future__ import annotations

from unified_bench.metrics.detectors.labels import COCO_LABELS, geneval_name, label_map, unmapped_classes
from unified_bench.tasks.geneval.prompts import CLASSES


def test_every_geneval_name_maps_from_coco_labels():
    mapped = [geneval_name(label) for label in COCO_LABELS]
    assert None not in mapped
    assert mapped == list(CLASSES)  # same order, one-to-one
    assert unmapped_classes(mapped) == []


def test_renamed_classes_and_alternative_spellings():
    assert geneval_name("mouse") == "computer mouse"
    assert geneval_name("remote") == "tv remote"
    assert geneval_name("keyboard") == "computer keyboard"
    assert geneval_name("hair dryer") == "hair drier"
    assert geneval_name("hair drier") == "hair drier"
    # mmdet / VOC / torchvision spellings
    assert geneval_name("tvmonitor") == "tv" and geneval_name("sofa") == "couch"
    assert geneval_name("dining_table") == "dining table" and geneval_name("Potted-Plant") == "potted plant"
    assert geneval_name("motorbike") == "motorcycle" and geneval_name("aeroplane") == "airplane"
    # not a GenEval class
    assert geneval_name("N/A") is None and geneval_name("wall-brick") is None


def test_label_map_keeps_only_geneval_classes():
    id2label = {0: "person", 1: "N/A", 2: "mouse", 3: "sky"}
    assert label_map(id2label) == {0: "person", 2: "computer mouse"}
    assert unmapped_classes(label_map(id2label).values())[:2] == ["bicycle", "car"]
