"""The official GenEval image-folder layout: ``<dir>/<00000>/metadata.jsonl`` + ``samples/<00000>.png``.

Why: writing generated images in this layout lets the official scorer score them, and reading it lets
Unified-Bench re-score any folder made for the official scorer without a model. The official scorer
walks every all-digit folder and every ``\\d+\\.png`` in its ``samples/``, so a missing image silently
shrinks the denominators (a published run reported 544 prompts instead of 553). Here a reader is told
how many images each prompt should have; every absent one is listed as missing, and the scorer counts
it wrong.

Differences from the official walk, on purpose: folders and images are visited in numeric order (the
official order is whatever ``os.listdir`` returns, which does not change any score), and image names
must match ``\\d+\\.png`` in full (the official ``re.match`` also accepts ``00000.png.bak``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unified_bench.tasks.geneval.prompts import PromptSetError, validate_record

if TYPE_CHECKING:
    from PIL.Image import Image

_IMAGE_RE = re.compile(r"\d+\.png")
METADATA_NAME = "metadata.jsonl"
SAMPLES_NAME = "samples"
#: Images per prompt in the GenEval protocol.
DEFAULT_IMAGES_PER_PROMPT = 4


def prompt_dir(root: str | Path, prompt_index: int) -> Path:
    return Path(root) / f"{prompt_index:05d}"


def image_path(root: str | Path, prompt_index: int, image_index: int) -> Path:
    """``<root>/<prompt:05d>/samples/<image:05d>.png``, as the official generation script names them."""
    return prompt_dir(root, prompt_index) / SAMPLES_NAME / f"{image_index:05d}.png"


def write_metadata(root: str | Path, prompt_index: int, record: dict[str, Any]) -> Path:
    """Write one prompt's folder with its metadata line (and an empty ``samples/``); return the folder."""
    from unified_bench.core.atomic import atomic_write_text

    folder = prompt_dir(root, prompt_index)
    (folder / SAMPLES_NAME).mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / METADATA_NAME, json.dumps(record) + "\n", durable=False)
    return folder


def write_image(root: str | Path, prompt_index: int, image_index: int, image: Image) -> Path:
    """Save one PNG atomically (a killed run never leaves a truncated image that looks complete)."""
    from unified_bench.core.atomic import atomic_write_bytes

    path = image_path(root, prompt_index, image_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue(), durable=False)
    return path


def write_layout(root: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write every prompt's folder + metadata (images are added with ``write_image``)."""
    for index, record in enumerate(records):
        write_metadata(root, index, record)
    return Path(root)


@dataclass(frozen=True)
class LayoutImage:
    """One expected image: its prompt folder, index, metadata, and path (None when it is missing)."""

    prompt_index: int
    image_index: int
    metadata: dict[str, Any]
    path: Path | None

    @property
    def missing(self) -> bool:
        return self.path is None

    @property
    def key(self) -> str:
        """Stable id, e.g. ``00012/00003``."""
        return f"{self.prompt_index:05d}/{self.image_index:05d}"


@dataclass(frozen=True)
class LayoutFolder:
    """Everything found under an official-layout folder; missing images are kept, never dropped."""

    root: Path
    prompts: tuple[tuple[int, dict[str, Any]], ...]
    images: tuple[LayoutImage, ...]

    @property
    def missing(self) -> tuple[LayoutImage, ...]:
        return tuple(im for im in self.images if im.missing)

    def summary(self) -> dict[str, Any]:
        return {"root": str(self.root), "n_prompts": len(self.prompts), "n_images": len(self.images),
                "n_missing": len(self.missing), "missing": [im.key for im in self.missing]}


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptSetError(f"Cannot read {path}: {exc}.", "Each prompt folder needs its metadata.jsonl.") from exc
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptSetError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}).",
                             "The file holds that prompt's one JSON metadata line, as the official "
                             "generation script writes it.") from exc
    return validate_record(record, str(path))


def read_layout(
    root: str | Path,
    images_per_prompt: int = DEFAULT_IMAGES_PER_PROMPT,
    expected: Sequence[dict[str, Any]] | None = None,
) -> LayoutFolder:
    """Read an official-layout folder, listing every expected image (present or missing).

    ``images_per_prompt``: indices 0..n-1 are expected in each prompt folder; absent ones are missing,
    extra numbered images are scored too (the official scorer scores every image it finds).
    ``expected``: the prompt set the folder should hold; a prompt folder that is absent then contributes
    ``images_per_prompt`` missing images, and a folder whose metadata differs is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise PromptSetError(f"Image folder '{root}' does not exist.",
                             "Pass a folder in the official GenEval layout: <dir>/00000/metadata.jsonl and "
                             "<dir>/00000/samples/00000.png ...")
    found: dict[int, dict[str, Any]] = {}
    folders: dict[int, Path] = {}
    for sub in root.iterdir():
        if not (sub.is_dir() and sub.name.isdigit()):
            continue
        meta = sub / METADATA_NAME
        if not meta.is_file():
            raise PromptSetError(f"Prompt folder {sub} has no {METADATA_NAME}.",
                                 "Restore it (the prompt's metadata line) or remove the folder.")
        index = int(sub.name)
        if index in found:
            raise PromptSetError(f"Two prompt folders in {root} have the number {index} (e.g. '{sub.name}').",
                                 "Keep one folder per prompt index.")
        found[index] = _read_metadata(meta)
        folders[index] = sub
    if expected is not None:
        for index, record in enumerate(expected):
            if index in found and found[index] != record:
                raise PromptSetError(
                    f"{prompt_dir(root, index) / METADATA_NAME} holds a different prompt than the prompt set's "
                    f"line {index + 1} ({found[index].get('prompt')!r} vs {record.get('prompt')!r}).",
                    "Score the folder against the prompt set it was generated from.")
        extra = sorted(set(found) - set(range(len(expected))))
        if extra:
            raise PromptSetError(f"{root} has prompt folders beyond the prompt set's {len(expected)} prompts "
                                 f"(first: {extra[0]:05d}).", "Score the folder against the prompt set it was "
                                 "generated from, or without one.")
        prompts = {i: dict(r) for i, r in enumerate(expected)}
    else:
        if not found:
            raise PromptSetError(f"{root} holds no prompt folders (all-digit names such as 00000).",
                                 "Pass a folder in the official GenEval layout.")
        prompts = found
    images: list[LayoutImage] = []
    for index in sorted(prompts):
        samples = folders.get(index, prompt_dir(root, index)) / SAMPLES_NAME
        present: dict[int, Path] = {}
        if samples.is_dir():
            for f in samples.iterdir():
                if _IMAGE_RE.fullmatch(f.name) and f.is_file():
                    present.setdefault(int(f.name[:-4]), f)
        for i in sorted(set(range(images_per_prompt)) | set(present)):
            images.append(LayoutImage(index, i, prompts[index], present.get(i)))
    return LayoutFolder(root, tuple(sorted(prompts.items())), tuple(images))
