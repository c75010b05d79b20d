"""Caption quality control: pure text checks, each testable alone, combined by ``check_caption``.

Why: long captions written by VLMs fail in a few recognisable ways: nothing at all, a refusal,
too short to teach long-prompt following, a degenerate loop ("a red car, a red car, ..."),
cut off by the token limit, or a boilerplate preamble. Each check is a small pure function;
``check_caption`` runs them in a fixed order, returns the first failing reason, and always fills
every figure so the data-set card can show distributions for kept and dropped captions alike.
"""

from __future__ import annotations

import re
from typing import Any

from .config import CaptionQCConfig, QCResult

#: Characters a finished caption may end with (closing quotes and brackets after a full stop count).
FINAL_PUNCTUATION = frozenset(".!?\"')]}»”’…")

#: First-words patterns of a refusal; matched case-insensitively at the start of the caption.
REFUSAL_PATTERNS = (
    r"i'?m sorry",
    r"i am sorry",
    r"sorry,",
    r"i apologi[sz]e",
    r"i can ?not\b",
    r"i can'?t (help|assist|describe|provide|see|view|process|identify|do)",
    r"i'?m (unable|not able)",
    r"i am (unable|not able)",
    r"as an ai\b",
    r"as a language model",
    r"unfortunately,? i\b",
)
_REFUSAL_RE = re.compile(r"^(?:" + "|".join(REFUSAL_PATTERNS) + ")", re.IGNORECASE)

#: Preambles that add words but no content ("The image shows ...", "In this image, ...").
_BOILERPLATE_RE = re.compile(
    r"^(?:(?:the|this) (?:image|picture|photo|photograph|scene) (?:shows|depicts|features|displays|"
    r"captures|presents|portrays|illustrates|contains|is of)\b"
    r"|in (?:this|the) (?:image|picture|photo|photograph)\b"
    r"|this is (?:an? )?(?:image|picture|photo|photograph)\b)",
    re.IGNORECASE,
)

_WORD_RE = re.compile(r"[\w']+", re.UNICODE)
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace or the end of the text;
# "3.5" or "e.g.x" do not end a sentence because no whitespace follows the dot.
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")


def _normalise(text: str) -> str:
    """Straighten typographic apostrophes so "I’m sorry" matches like "I'm sorry"."""
    return text.replace("’", "'").replace("‘", "'").strip().lstrip("\"'“ ")


def word_count(text: str) -> int:
    """Whitespace-separated words: what a reader (and the 250-word prompt) counts."""
    return len(text.split())


def repeated_ngram_ratio(text: str, n: int = 4) -> float:
    """Fraction of word n-grams that repeat an n-gram seen earlier in the text (0 = no repetition).

    Case and punctuation are ignored. Why this figure: a decoding loop ("a red car, a red car,
    ...") drives it towards 1, while natural prose with a few recurring phrases stays low.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    words = [w.lower() for w in _WORD_RE.findall(text)]
    total = len(words) - n + 1
    if total <= 0:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for i in range(total):
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeats += 1
        else:
            seen.add(gram)
    return repeats / total


def ends_with_final_punctuation(text: str) -> bool:
    stripped = text.rstrip()
    return bool(stripped) and stripped[-1] in FINAL_PUNCTUATION


def is_truncated(text: str, finish_reason: str | None, require_final_punctuation: bool = True) -> bool:
    """Cut off: the generator hit its token limit, or (if required) the text stops mid-sentence."""
    if finish_reason == "length":
        return True
    return require_final_punctuation and not ends_with_final_punctuation(text)


def is_refusal(text: str) -> bool:
    """The caption opens like a refusal ("I'm sorry, ...", "I cannot ...", "As an AI ...")."""
    return bool(_REFUSAL_RE.match(_normalise(text)))


def has_boilerplate_opening(text: str) -> bool:
    """The caption opens with a preamble such as "The image shows" or "In this image"."""
    return bool(_BOILERPLATE_RE.match(_normalise(text)))


def first_sentence(text: str) -> str:
    """The text up to and including the first sentence end; the whole text if there is none.

    Used for image-text alignment: CLIP reads 77 tokens, and the first sentence of a dense
    caption is its summary.
    """
    stripped = text.strip()
    match = _SENTENCE_END_RE.search(stripped)
    return stripped[: match.end()] if match else stripped


def caption_figures(text: str, finish_reason: str | None, config: CaptionQCConfig) -> dict[str, Any]:
    """Every QC figure of one caption (JSON-friendly), computed whether or not it passes."""
    return {
        "word_count": word_count(text),
        "char_count": len(text),
        "repeated_ngram_ratio": repeated_ngram_ratio(text, config.ngram_n),
        "ngram_n": config.ngram_n,
        "finish_reason": finish_reason,
        "ends_with_punctuation": ends_with_final_punctuation(text),
        "truncated": is_truncated(text, finish_reason, config.require_final_punctuation),
        "refusal": is_refusal(text),
        "boilerplate_opening": has_boilerplate_opening(text),
        "first_sentence_words": word_count(first_sentence(text)),
    }


def check_caption(
    text: str | None,
    finish_reason: str | None,
    config: CaptionQCConfig,
    *,
    alignment_score: float | None = None,
) -> QCResult:
    """Pass/fail with the first failing reason, in this order:

    empty, refusal, too_short, too_long, repetitive, truncated, boilerplate_opening, low_alignment.

    Refusal comes before too_short because a refusal is short, and "refusal" is the more useful
    reason. ``alignment_score`` (from ``qc.alignment.AlignmentScorer``) is needed only when
    ``config.min_alignment`` is set; a missing score then is a caller bug and raises.
    """
    text = (text or "").strip()
    figures = caption_figures(text, finish_reason, config)
    figures["alignment"] = alignment_score
    if not text:
        return QCResult(passed=False, reason="empty", figures=figures)
    if config.reject_refusals and figures["refusal"]:
        return QCResult(passed=False, reason="refusal", figures=figures)
    if figures["word_count"] < config.min_words:
        return QCResult(passed=False, reason="too_short", figures=figures)
    if figures["word_count"] > config.max_words:
        return QCResult(passed=False, reason="too_long", figures=figures)
    if figures["repeated_ngram_ratio"] > config.max_repeated_ngram_ratio:
        return QCResult(passed=False, reason="repetitive", figures=figures)
    if figures["truncated"]:
        return QCResult(passed=False, reason="truncated", figures=figures)
    if config.reject_boilerplate_openings and figures["boilerplate_opening"]:
        return QCResult(passed=False, reason="boilerplate_opening", figures=figures)
    if config.min_alignment is not None:
        if alignment_score is None:
            raise ValueError(
                "CaptionQCConfig.min_alignment is set but no alignment_score was given; "
                "score the caption with qc.alignment.AlignmentScorer first"
            )
        if alignment_score < config.min_alignment:
            return QCResult(passed=False, reason="low_alignment", figures=figures)
    return QCResult(passed=True, reason=None, figures=figures)
