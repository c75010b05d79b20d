"""The fallback row for any task: every output that names an image file, and the first text output."""

from __future__ import annotations

from pathlib import Path

from unified_bench.report.thumbnails import thumbnail_for
from unified_bench.report.views.base import SampleMedia, SampleView
from unified_bench.results.schema import SampleRecord

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_TEXT_KEYS = ("caption", "answer", "prediction", "text", "prompt", "question")


class GenericView(SampleView):
    image_labels = ("image",)
    text_label = "output"

    def media(self, sample: SampleRecord, run_dir: Path) -> SampleMedia:
        paths = [v for v in sample.outputs.values() if isinstance(v, str) and v.lower().endswith(_IMAGE_SUFFIXES)]
        image = thumbnail_for(run_dir, paths[0] if paths else None, "no image")
        text = next((sample.outputs[k] for k in _TEXT_KEYS if isinstance(sample.outputs.get(k), str)), None)
        return SampleMedia((image,), text, (not paths,))
