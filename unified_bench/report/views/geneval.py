"""The GenEval row: the prompt's images with the kept boxes drawn, and each image's verdict."""

from __future__ import annotations

from pathlib import Path

from unified_bench.report.thumbnails import thumbnail_for
from unified_bench.report.views.base import SampleMedia, SampleView
from unified_bench.results.schema import SampleRecord

MAX_IMAGES = 4


class GenevalView(SampleView):
    image_labels = tuple(f"image {k}" for k in range(MAX_IMAGES))
    text_label = "prompt / verdicts"
    group_key = "tag"  # filter by task

    def media(self, sample: SampleRecord, run_dir: Path) -> SampleMedia:
        images = list(sample.outputs.get("images") or [])[:MAX_IMAGES]
        images += [None] * (MAX_IMAGES - len(images))
        annotated = list(sample.outputs.get("annotated") or [])
        thumbs = []
        for k, image in enumerate(images):
            boxed = annotated[k] if k < len(annotated) else None
            chosen = boxed if boxed and (run_dir / boxed).is_file() else image
            thumbs.append(thumbnail_for(run_dir, chosen, "missing image" if k < len(sample.outputs.get("images") or [])
                                        else "none"))
        lines = [f"{sample.outputs.get('prompt', '')}  [{sample.groups.get('tag', '')}]"]
        for k, verdict in enumerate(sample.outputs.get("verdicts") or []):
            mark = "correct" if verdict.get("correct") else "wrong"
            lines.append(f"{k}: {mark}: {verdict.get('reason', '')}")
        gaps = tuple(image is None for image in images)
        return SampleMedia(tuple(thumbs), "\n".join(lines), gaps)
