"""The unified task's row: the reference, its reconstruction, and the caption between them."""

from __future__ import annotations

from pathlib import Path

from unified_bench.report.thumbnails import thumbnail_for
from unified_bench.report.views.base import SampleMedia, SampleView
from unified_bench.results.schema import SampleRecord


class UnifiedView(SampleView):
    image_labels = ("original", "reconstruction")
    text_label = "caption"

    def media(self, sample: SampleRecord, run_dir: Path) -> SampleMedia:
        out = sample.outputs
        ref = thumbnail_for(run_dir, out.get("reference_path"), "no reference")
        gen = thumbnail_for(run_dir, out.get("generated_image"), "failed" if sample.status == "failed" else "no image")
        caption = out.get("caption")
        expected_gap = sample.status == "failed" and not out.get("generated_image")
        cut = out.get("prompt_truncated_tokens") or 0
        notes = (f"generator's text encoder truncated this caption: {cut} tokens not used",) if cut > 0 else ()
        return SampleMedia((ref, gen), caption if isinstance(caption, str) else None, (False, expected_gap), notes)
