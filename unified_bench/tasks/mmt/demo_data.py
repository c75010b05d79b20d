"""The frozen demo / fixture question TSVs in the official MMT-Bench schema, built from the demo photos.

Why: the task, its tests and the offline demo need a question file that exercises every rule of
the format (single- and multi-image rows, back-referenced images in both directions, 2 to 9
options, hints, a missing answer, an answer-less ALL-style file) without downloading 6 GB. The
images are the project's demo photographs (``unified_bench.demo.images``) as 32 px JPEGs.

Three files, same questions: ``mmt_fixture.tsv`` (multi-image rows as one image concatenated
side by side, like ``MMT-Bench_VAL.tsv``), ``mmt_fixture_MI.tsv`` (multi-image rows as a JSON list
of images, like the ``_MI`` files) and ``mmt_fixture_ALL.tsv`` (no answer column, like
``MMT-Bench_ALL.tsv``). Rebuild with ``python -m unified_bench.tasks.mmt.demo_data OUT_DIR``.

Groups (answered questions): visual_recognition has 3 subtasks (3 + 2 + 1 questions), counting 1
(3, plus one without an answer), localization 2 (2 + 1), multiple_image_analysis 1 (3), so the
micro and macro means differ for most hit patterns.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Side of the fixture images in pixels, and their JPEG quality.
IMAGE_SIZE = 32
JPEG_QUALITY = 75

FILES = ("mmt_fixture.tsv", "mmt_fixture_MI.tsv", "mmt_fixture_ALL.tsv")

HEADER = ("index", "question", "hint", *"ABCDEFGHI", "answer", "category", "image", "l2-category", "split")

_OPTION_POOL = ("red", "green", "blue", "yellow", "a cat", "a dog", "a rocket", "coffee", "three", "seven")


@dataclass(frozen=True)
class FixtureRow:
    index: int
    category: str
    l2_category: str
    n_options: int
    answer: str | None
    images: tuple[int, ...] | int | str  # demo image ids, or the index (as text) of another row to reuse
    hint: str | None = None
    question: str = ""


#: The questions. ``images`` as a str is a back-reference (the image cell holds that index).
ROWS: tuple[FixtureRow, ...] = (
    FixtureRow(0, "color_recognition", "visual_recognition", 4, "A", (0,), "The photo was taken indoors.",
               "What colour is the suit?"),
    FixtureRow(1, "color_recognition", "visual_recognition", 2, "B", (1,), None, "What colour is the cup?"),
    FixtureRow(2, "color_recognition", "visual_recognition", 3, "C", "0", None, "What colour is the flag?"),
    FixtureRow(3, "animal_recognition", "visual_recognition", 5, "D", (2,), None, "Which animal is shown?"),
    FixtureRow(4, "animal_recognition", "visual_recognition", 9, "I", "12", None, "Which animal could live here?"),
    FixtureRow(5, "scene_recognition", "visual_recognition", 4, "A", (3,), "Look at the sky.",
               'Which scene is shown?\nAnswer with the letter of the "best" option.'),
    FixtureRow(6, "counting_by_category", "counting", 6, "E", (4,), None, "How many colours blend here?"),
    FixtureRow(7, "counting_by_category", "counting", 4, "B", (5,), None, "How many squares are dark?"),
    FixtureRow(8, "counting_by_category", "counting", 7, "G", "6", None, "How many corners are red?"),
    FixtureRow(9, "counting_by_category", "counting", 3, None, (0,), None, "How many people are shown?"),
    FixtureRow(10, "small_object_detection", "localization", 4, "C", (3,), "Boxes are [x, y, w, h].",
               "Where is the smallest object?"),
    FixtureRow(11, "small_object_detection", "localization", 8, "H", (2,), None, "Where is the nose?"),
    FixtureRow(12, "object_detection", "localization", 2, "A", (1,), None, "Where is the cup?"),
    FixtureRow(13, "spot_the_diff", "multiple_image_analysis", 4, "B", (2, 1), None,
               "What differs between the two images?"),
    FixtureRow(14, "spot_the_diff", "multiple_image_analysis", 3, "A", (0, 3, 4), None,
               "Which image is not a photograph?"),
    FixtureRow(15, "spot_the_diff", "multiple_image_analysis", 2, "B", "13", None, "Which image is warmer?"),
)


def _jpeg(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _demo_images() -> list:
    from unified_bench.demo.images import demo_image_builders

    return [build() for _, build in demo_image_builders(IMAGE_SIZE)]


def _concatenate(images: Sequence) -> object:
    """Side by side, as MMT-Bench's single-image files show multi-image questions."""
    from PIL import Image as PILImage

    canvas = PILImage.new("RGB", (IMAGE_SIZE * len(images), IMAGE_SIZE), (255, 255, 255))
    for i, img in enumerate(images):
        canvas.paste(img, (i * IMAGE_SIZE, 0))
    return canvas


def _options(row: FixtureRow) -> list[str]:
    pool = _OPTION_POOL[row.index % 3:] + _OPTION_POOL[: row.index % 3]
    return [pool[i % len(pool)] + ("" if i < len(pool) else f" ({i})") for i in range(row.n_options)]


def _image_cell(row: FixtureRow, photos: Sequence, multi_as_list: bool) -> str:
    if isinstance(row.images, str):
        return row.images
    ids = row.images if isinstance(row.images, tuple) else (row.images,)
    if len(ids) == 1:
        return _b64(_jpeg(photos[ids[0]]))
    if multi_as_list:
        return json.dumps([_b64(_jpeg(photos[i])) for i in ids])
    return _b64(_jpeg(_concatenate([photos[i] for i in ids])))


def fixture_tsv_text(kind: str = "single") -> str:
    """The text of one fixture file: ``kind`` is ``"single"``, ``"MI"`` or ``"ALL"``."""
    if kind not in ("single", "MI", "ALL"):
        raise ValueError(f"kind must be 'single', 'MI' or 'ALL', not {kind!r}")
    photos = _demo_images()
    header = [c for c in HEADER if not (kind == "ALL" and c == "answer")]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    for row in ROWS:
        opts = _options(row)
        cells = {
            "index": str(row.index), "question": row.question, "hint": row.hint or "",
            "answer": row.answer or "", "category": row.category, "l2-category": row.l2_category,
            "split": "val" if kind != "ALL" or row.index % 2 == 0 else "test",
            "image": _image_cell(row, photos, multi_as_list=kind == "MI"),
        }
        for i, letter in enumerate("ABCDEFGHI"):
            cells[letter] = opts[i] if i < len(opts) else ("nan" if i == len(opts) and i % 2 else "")
        w.writerow([cells[c] for c in header])
    return buf.getvalue()


def build_fixture(out_dir: str | Path) -> Path:
    """Write the three fixture files into ``out_dir`` (created if needed) and return it."""
    from unified_bench.core.atomic import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, kind in zip(FILES, ("single", "MI", "ALL"), strict=True):
        atomic_write_text(out / name, fixture_tsv_text(kind))
    return out


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    build_fixture(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/mmt")
