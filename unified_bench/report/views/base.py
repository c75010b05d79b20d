"""What a sample view produces for the report table: labelled images and one text cell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unified_bench.report.thumbnails import Thumbnail
from unified_bench.results.schema import SampleRecord


@dataclass(frozen=True)
class SampleMedia:
    """The media cells of one row: one thumbnail per image column, and the text (or None)."""

    images: tuple[Thumbnail, ...]
    text: str | None
    #: True when a missing image is explained by the sample's failure (no "missing file" note).
    expected_gaps: tuple[bool, ...] = ()
    #: Facts about how the sample's outputs were made, shown under its text (e.g. a truncated prompt).
    notes: tuple[str, ...] = ()


class SampleView:
    """Base: no images, no text. Subclasses set the labels and implement ``media``."""

    image_labels: tuple[str, ...] = ()
    text_label: str = "output"
    #: Label of the groups filter (a key of ``SampleRecord.groups``), or None for no filter.
    group_key: str | None = None

    def media(self, sample: SampleRecord, run_dir: Path) -> SampleMedia:
        return SampleMedia((), None)
