"""The one schema of ``KEY.json`` (and the members of every sample) in the output tars.

Why fixed: ``datasets.load_dataset("webdataset")`` infers its features from the first few samples of
the first tar and casts every later sample to them, so a field that is ``null`` in one sample and a
string in another (a missing alt text, a captioner that did not run, a source without extra
columns) makes the whole set unloadable depending on sample order. So every field has a typed
default ("" / 0 / 0.0 / False), nested objects always have the same keys, and provenance whose shape
varies by source (extra columns) travels as one JSON string. ``validate`` checks each sample against
``SAMPLE_SHAPE``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_pipeline.sample import Sample

#: Every accepted sample has exactly these members (the image extension is the recipe's format).
TEXT_MEMBERS = ("txt", "json")

#: Who wrote the caption; unknown keys of a backend's record stay in ``record_json``.
CAPTIONER_DEFAULTS: dict[str, Any] = {
    "backend": "", "model": "", "revision": "", "prompt_sha256": "", "max_new_tokens": 0, "temperature": 0.0,
    "do_sample": False, "seed": 0, "dtype": "", "served_model": "", "system_fingerprint": "", "record_json": "",
}

#: Caption QC figures (``qc.caption_qc.caption_figures``); ``checked`` is False when no QC ran.
QC_DEFAULTS: dict[str, Any] = {
    "checked": False, "word_count": 0, "char_count": 0, "repeated_ngram_ratio": 0.0, "ngram_n": 0,
    "finish_reason": "", "ends_with_punctuation": False, "truncated": False, "refusal": False,
    "boilerplate_opening": False, "first_sentence_words": 0, "alignment_scored": False, "alignment": 0.0,
}


def _coerce(value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (None -> default). bool before int: bool is an int."""
    if value is None:
        return default
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


def fixed(values: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """``values`` reshaped to exactly the keys of ``defaults``, each of the default's type."""
    values = values or {}
    return {k: _coerce(values.get(k), d) for k, d in defaults.items()}


def captioner_json(record: dict[str, Any] | None) -> dict[str, Any]:
    if not record:
        return dict(CAPTIONER_DEFAULTS)
    out = fixed(record, CAPTIONER_DEFAULTS)
    out["record_json"] = json.dumps(record, sort_keys=True, default=str)
    return out


def qc_json(figures: dict[str, Any] | None) -> dict[str, Any]:
    if not figures:
        return dict(QC_DEFAULTS)
    out = fixed(figures, QC_DEFAULTS)
    out["checked"] = True
    out["alignment_scored"] = figures.get("alignment") is not None
    return out


def text_for(s: Sample) -> str:
    """``KEY.txt``: the long caption; with captioning disabled the source's own caption, else ""."""
    if s.caption is not None:
        return s.caption
    return s.record.original_caption or ""


def sample_json(s: Sample, image_ext: str) -> dict[str, Any]:
    """``KEY.json`` of an accepted sample: the same keys and value types for every sample and source."""
    r = s.record
    return {
        "key": r.id, "source": r.source, "locator": r.locator, "original_caption": r.original_caption or "",
        "extra_json": json.dumps(r.extra or {}, sort_keys=True, default=str),
        "image": {"format": image_ext, "width": int(s.width or 0), "height": int(s.height or 0)},
        "original": {"width": int(s.orig_width or 0), "height": int(s.orig_height or 0), "mode": s.orig_mode or "",
                     "format": s.orig_format or "", "bytes": int(s.fetched_bytes or 0)},
        "sha256": s.sha256 or "", "phash": s.phash or "", "caption_finish_reason": s.caption_finish_reason or "",
        "captioner": captioner_json(s.captioner), "qc": qc_json(s.qc),
    }


def json_shape(obj: Any) -> Any:
    """Key and type structure of a JSON value: dicts keep their keys, leaves become type names."""
    if isinstance(obj, dict):
        return {k: json_shape(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list):
        return ["list"]
    return type(obj).__name__  # str | int | float | bool | NoneType


def _reference_shape() -> Any:
    from data_pipeline.records import InputRecord
    from data_pipeline.sample import Sample

    return json_shape(sample_json(Sample(record=InputRecord("k", "path", "", "")), "jpg"))


#: What ``validate`` compares every ``KEY.json`` with.
SAMPLE_SHAPE = _reference_shape()


def shape_problem(obj: Any) -> str | None:
    """None when ``obj`` has ``SAMPLE_SHAPE``; else the first differing field, for a clear message."""
    got = json_shape(obj)
    if got == SAMPLE_SHAPE:
        return None

    def diff(a: Any, b: Any, path: str) -> str:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k not in a:
                    return f"{path}{k}: missing"
                if k not in b:
                    return f"{path}{k}: unexpected field"
                if a[k] != b[k]:
                    return diff(a[k], b[k], f"{path}{k}.")
        return f"{path.rstrip('.')}: {a} instead of {b}"

    return diff(got, SAMPLE_SHAPE, "")
