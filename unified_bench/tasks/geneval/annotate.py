"""Copies of judged GenEval images with the kept detections drawn, for the report.

Why files, not drawing in the report: the report reads only results and the images they name; the
boxes come from the per-image verdicts in results.json, so the annotated copies are a pure function
of results + images and can be re-made at any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unified_bench.results.schema import Results

ANNOTATED_DIR = "annotated"
_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45")


def annotate_image(path: Path, kept: dict[str, Any], out: Path) -> None:
    """Draw each kept box with its class name and score onto a copy of ``path``."""
    from PIL import Image, ImageDraw

    from unified_bench.core.atomic import atomic_write_bytes

    with Image.open(path) as im:
        canvas = im.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for n, (name, detections) in enumerate(sorted(kept.items())):
        colour = _COLOURS[n % len(_COLOURS)]
        for det in detections:
            box = [float(v) for v in det["box"]]
            draw.rectangle(box, outline=colour, width=2)
            draw.text((box[0] + 2, box[1] + 1), f"{name} {float(det['score']):.2f}", fill=colour)
    import io

    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue(), durable=False)


def write_annotated(run_dir: Path, results: Results) -> dict[str, str]:
    """Annotate every judged image that exists; return the folder as a task file (empty if none)."""
    written = 0
    for sample in results.samples:
        for k, (image, verdict) in enumerate(zip(sample.outputs.get("images", []),
                                                 sample.outputs.get("verdicts", []), strict=False)):
            if image is None or verdict.get("status") != "ok":
                continue
            source = run_dir / image
            if source.is_file():
                annotate_image(source, verdict.get("kept") or {}, run_dir / annotated_path(sample.id, k))
                written += 1
    return {"annotated": ANNOTATED_DIR} if written else {}


def annotated_path(sample_id: str, image_index: int) -> str:
    return f"{ANNOTATED_DIR}/{sample_id}-{image_index}.png"
