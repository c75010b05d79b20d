"""Object detectors for GenEval-style judging, behind one interface (``base.Detector``).

Backends: ``mask2former`` (transformers, the default: COCO instance segmentation), ``owlv2``
(open-vocabulary, queried with GenEval's 80 class names) and ``mmdet`` (the official weights; only
when mmdet happens to be installed). ``DETECTORS`` maps names to lazily imported classes.
"""

from unified_bench.registry import Registry

DETECTORS: Registry = Registry("detector")
DETECTORS.register("mask2former", "unified_bench.metrics.detectors.mask2former:Mask2FormerDetector")
DETECTORS.register("owlv2", "unified_bench.metrics.detectors.owlv2:Owlv2Detector")
DETECTORS.register("mmdet", "unified_bench.metrics.detectors.mmdet:MMDetDetector")
