"""The multiple-choice row: the question's image, then question, options, raw answer and letter."""

from __future__ import annotations

from pathlib import Path

from unified_bench.report.thumbnails import thumbnail_for
from unified_bench.report.views.base import SampleMedia, SampleView
from unified_bench.results.schema import SampleRecord


class MultipleChoiceView(SampleView):
    image_labels = ("image",)
    text_label = "question / answer"
    group_key = "l2_category"  # filter by meta-task

    def media(self, sample: SampleRecord, run_dir: Path) -> SampleMedia:
        out = sample.outputs
        images = out.get("images") or []
        thumb = thumbnail_for(run_dir, images[0] if images else None, "no image")
        lines = []
        if out.get("hint"):
            lines.append(f"Hint: {out['hint']}")
        lines.append(f"Q: {out.get('question', '')}")
        lines.extend(f"{letter}. {text}" for letter, text in (out.get("options") or {}).items())
        if len(images) > 1:
            lines.append(f"({len(images)} images; the first is shown)")
        lines.append(f"model: {out.get('prediction') if out.get('prediction') is not None else '(no answer)'}")
        key = out.get("answer")
        lines.append(f"extracted: {out.get('letter')}   key: {key if key is not None else '(none: server-scored)'}")
        if out.get("rotation_letters"):
            lines.append(f"per rotation: {' '.join(out['rotation_letters'])}")
        return SampleMedia((thumb,), "\n".join(lines), (not images,))
