"""Caption QC: hand-made captions for every reason, and hand-derived figures."""

from __future__ import annotations

import pytest

from data_pipeline.qc.caption_qc import (
    check_caption,
    first_sentence,
    has_boilerplate_opening,
    is_refusal,
    is_truncated,
    repeated_ngram_ratio,
    word_count,
)
from data_pipeline.qc.config import CaptionQCConfig

COLORS = ["red", "blue", "green", "yellow", "white", "black", "grey"]
THINGS = ["cup", "book", "lamp", "chair", "plant", "clock", "vase", "bowl", "pen", "box", "hat"]
PLACES = ["left of", "right of", "behind", "in front of", "above", "below"]


def long_caption(sentences: int = 30) -> str:
    """Varied, natural-looking prose: each sentence is 11-13 words and names a distinct pair of objects."""
    out = []
    for i in range(sentences):
        a, b = COLORS[i % 7], COLORS[(3 * i + 1) % 7]
        t1, t2 = THINGS[i % 11], THINGS[(5 * i + 2) % 11]
        out.append(f"Item {i + 1} is a {a} {t1} placed {PLACES[i % 6]} a {b} {t2}.")
    return " ".join(out)


CFG = CaptionQCConfig(min_words=50, max_words=400)


def test_word_count():
    assert word_count("  A red  cup,\non a table. ") == 6
    assert word_count("") == 0


def test_repeated_ngram_ratio_hand_derived():
    # bigrams: ab bc ca ab bc -> 2 repeats of 5
    assert repeated_ngram_ratio("a b c a b c", 2) == pytest.approx(2 / 5)
    # trigrams: abc bca cab abc -> 1 repeat of 4
    assert repeated_ngram_ratio("a b c a b c", 3) == pytest.approx(1 / 4)
    assert repeated_ngram_ratio("A, b. C a B c", 3) == pytest.approx(1 / 4)  # case and punctuation ignored
    assert repeated_ngram_ratio("one two three", 4) == 0.0  # fewer words than n
    assert repeated_ngram_ratio("x x x x x", 1) == pytest.approx(4 / 5)


def test_truncation():
    assert is_truncated("A cat sits.", "length")  # token limit wins even with a full stop
    assert is_truncated("A cat sits on the", "stop")
    assert not is_truncated('The sign reads "OPEN."', "stop")
    assert not is_truncated("A cat (grey)", "stop")
    assert not is_truncated("A cat sits on the", "stop", require_final_punctuation=False)


@pytest.mark.parametrize("text", ["I'm sorry, but I can't describe this.", "I’m sorry, no.",
                                  "I cannot help with that.", "As an AI, I do not see images.",
                                  "  I can't help with this request.", "Unfortunately, I am unable to view it."])
def test_refusal_detected(text):
    assert is_refusal(text)


def test_refusal_only_at_start():
    assert not is_refusal("A poster says I'm sorry in big letters.")
    assert not is_refusal("I can see a red cup on a table.")


def test_boilerplate_openings():
    assert has_boilerplate_opening("The image shows a cat.")
    assert has_boilerplate_opening("This image depicts a street.")
    assert has_boilerplate_opening("In this image, a dog runs.")
    assert not has_boilerplate_opening("A dog runs; the image shows motion blur.")


def test_first_sentence():
    assert first_sentence("A cat, 3.5 kg, sits. It purrs.") == "A cat, 3.5 kg, sits."
    assert first_sentence('He said "stop!" Then left.') == 'He said "stop!"'
    assert first_sentence("no end mark here") == "no end mark here"
    assert first_sentence("  One.  ") == "One."


def test_passing_caption_has_all_figures():
    text = long_caption()
    result = check_caption(text, "stop", CFG)
    assert result.passed and result.reason is None
    figures = result.figures
    assert figures["word_count"] == word_count(text) == 30 * 10 + 5 * 10  # 10 fixed words + place words (10 per 6 sentences)
    assert 0 <= figures["repeated_ngram_ratio"] <= CFG.max_repeated_ngram_ratio
    assert figures["repeated_ngram_ratio"] == repeated_ngram_ratio(text, 4)
    assert figures["truncated"] is False and figures["refusal"] is False and figures["boilerplate_opening"] is False
    assert figures["first_sentence_words"] == 12 and figures["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("text", "finish", "config", "reason"),
    [
        (None, None, CFG, "empty"),
        ("   ", "stop", CFG, "empty"),
        ("I'm sorry, but I cannot describe this image.", "stop", CFG, "refusal"),
        ("A small red cup.", "stop", CFG, "too_short"),
        (long_caption(30), "stop", CaptionQCConfig(min_words=50, max_words=200), "too_long"),
        ("A red car and " * 40 + "a tree.", "stop", CFG, "repetitive"),
        (long_caption(30), "length", CFG, "truncated"),
        (long_caption(30)[:-1] + " and a", "stop", CFG, "truncated"),
        ("The image shows " + long_caption(30), "stop",
         CaptionQCConfig(min_words=50, max_words=400, reject_boilerplate_openings=True), "boilerplate_opening"),
    ],
)
def test_each_reason(text, finish, config, reason):
    result = check_caption(text, finish, config)
    assert not result.passed and result.reason == reason
    assert {"word_count", "repeated_ngram_ratio", "truncated", "refusal"} <= set(result.figures)


def test_switches_turn_checks_off():
    assert check_caption("The image shows " + long_caption(), "stop", CFG).passed  # boilerplate off by default
    refusal_long = "I'm sorry to say " + long_caption()
    assert check_caption(refusal_long, "stop", CFG).reason == "refusal"
    assert check_caption(refusal_long, "stop", CaptionQCConfig(min_words=50, max_words=400,
                                                               reject_refusals=False)).passed


def test_low_alignment():
    cfg = CaptionQCConfig(min_words=50, max_words=400, min_alignment=0.25)
    assert check_caption(long_caption(), "stop", cfg, alignment_score=0.1).reason == "low_alignment"
    passed = check_caption(long_caption(), "stop", cfg, alignment_score=0.3)
    assert passed.passed and passed.figures["alignment"] == 0.3
    with pytest.raises(ValueError, match="alignment_score"):
        check_caption(long_caption(), "stop", cfg)
