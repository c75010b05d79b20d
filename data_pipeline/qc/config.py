"""QC thresholds (part of a recipe) and the result of checking one caption."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CaptionQCConfig:
    min_words: int = 250
    max_words: int = 1200
    ngram_n: int = 4
    max_repeated_ngram_ratio: float = 0.2  # share of n-grams that are repeats (degenerate loops)
    require_final_punctuation: bool = True  # a caption cut mid-sentence is truncated
    reject_refusals: bool = True  # "I'm sorry, I can't ...", "As an AI ..."
    reject_boilerplate_openings: bool = False  # "The image shows ..." openers
    min_alignment: float | None = None  # CLIP/LongCLIP score of image vs first sentence
    alignment_model: str | None = None  # encoder checkpoint for the alignment score


@dataclass(frozen=True)
class QCResult:
    passed: bool
    reason: str | None = None  # e.g. "too_short", "repetitive", "truncated", "refusal", "low_alignment"
    figures: dict[str, Any] = field(default_factory=dict)  # word_count, repeated_ngram_ratio, ...
