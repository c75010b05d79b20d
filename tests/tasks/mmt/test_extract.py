"""The answer-extraction chain against a table of model outputs with letters derived by hand.

Each expected letter was worked out from the chain in the issue / VLMEvalKit's ``can_infer``
(step numbers in the comments): 1 refusal / API failure, 2 lone letter among the last four
tokens or a ``Z`` token, 3 the ``answer is [ABCD]`` regex (case-insensitive), 4 the unique option
text in a short enough answer, 5 ``Z``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import pytest

from unified_bench.tasks.mmt.extract import extract_choice, is_refusal

# option-text budgets for step 4: twice the summed option lengths
ANIMALS = {"A": "a cat", "B": "a dog", "C": "a bird", "D": "a fish"}  # 22 chars -> answers up to 44
YES_NO = {"A": "yes", "B": "no"}  # 5 -> 10
NUMBERS = {"A": "one", "B": "two", "C": "three", "D": "four", "E": "five", "F": "six", "G": "seven",
           "H": "eight", "I": "nine"}  # 36 -> 72
COLOURS = {"A": "red", "B": "green", "C": "blue", "D": "yellow", "E": "purple", "F": "orange"}  # 30 -> 60
GAP = {"A": "a cat", "B": "a dog", "D": "a fish"}

TABLE: list[tuple[str, Mapping[str, str], str]] = [
    # step 2: a lone option letter among the last four tokens
    ("A", ANIMALS, "A"),
    ("(B)", ANIMALS, "B"),
    ("Answer: C.", ANIMALS, "C"),
    ("**C**", ANIMALS, "C"),  # markdown bold
    ("The correct answer is **B**.", ANIMALS, "B"),  # 5 tokens, B at 4 > 0
    ("**Answer:** D", ANIMALS, "D"),
    ("Option A", ANIMALS, "A"),
    ("A.", ANIMALS, "A"),
    ("A) a cat", ANIMALS, "A"),  # lower-case 'a' is not a letter token
    ("My final answer: B", ANIMALS, "B"),
    ("After looking closely at the image, the animal appears to be sitting on a sofa, so B", ANIMALS, "B"),
    ("B, it's a dog", ANIMALS, "B"),  # 4 tokens: position 0 > -1
    ("{A}", ANIMALS, "A"),
    ("[C]", ANIMALS, "C"),
    ("#D", ANIMALS, "D"),
    ("A;", ANIMALS, "A"),
    ("Answer:B", ANIMALS, "B"),
    ("The answer is (C).", ANIMALS, "C"),
    ("A A A", ANIMALS, "A"),  # one distinct letter, first at 0 > -2
    ("Z is not an option, the answer is B", ANIMALS, "B"),  # B at 8 > 4; Z ignored when a letter is present
    ("  B  \n", ANIMALS, "B"),
    ("Option B: a dog.", ANIMALS, "B"),
    ("The answer is E.", COLOURS, "E"),  # step 2 is not limited to A-D
    ("answer is E", COLOURS, "E"),
    ("I", NUMBERS, "I"),
    ("I think so", NUMBERS, "I"),  # quirk: the pronoun is option I's letter
    # step 2: a Z token and no option letter
    ("Z", ANIMALS, "Z"),
    ("None of the options; Z", ANIMALS, "Z"),
    # step 3: the letter is early in a long answer (or two letters appear), the regex decides
    ("The answer is D because the fish is in the water.", ANIMALS, "D"),  # D at 3, not > 11 - 5
    ("The answer is D because the colour matches the bright yellow of the flower petals.", COLOURS, "D"),
    ("The answer is B or C", ANIMALS, "B"),
    ("I think the answer is B", NUMBERS, "B"),  # tokens I and B: two letters
    ("the answer is b", ANIMALS, "B"),  # lower case: no token, the regex is case-insensitive
    ("answer is c", ANIMALS, "C"),
    ("Answer is   **d**", ANIMALS, "D"),
    ("the answer is a dog", ANIMALS, "A"),  # quirk: 'a' read as option A
    ("The answer is a dog", YES_NO, "A"),  # same quirk, whatever option A says
    # step 3 does not apply: E-I are outside the regex, so a long answer naming E early is lost
    ("The answer is E because the colour matches the bright purple of the flower petals.", COLOURS, "Z"),
    ("the answer is e", COLOURS, "Z"),
    # step 4: option text only, short enough, exactly one option text inside
    ("a dog", ANIMALS, "B"),
    ("It is a dog.", ANIMALS, "B"),
    ("The image shows a bird.", ANIMALS, "C"),
    ("yes", YES_NO, "A"),
    ("No.", YES_NO, "B"),
    ("nine", NUMBERS, "I"),
    ("seven", NUMBERS, "G"),
    ("eighteen", NUMBERS, "H"),  # substring quirk: 'eight'
    ("someone", NUMBERS, "A"),  # substring quirk: 'one'
    ("Failed to obtain answer via API: a fish", ANIMALS, "D"),  # step 1 skips to step 4
    # step 4 fails: two option texts, too long, or none
    ("a cat and a dog", ANIMALS, "Z"),
    ("(A) a cat (B) a dog", ANIMALS, "Z"),  # two letters, no regex, two texts
    ("No, yes", YES_NO, "Z"),
    ("four or five", NUMBERS, "Z"),
    ("a bird? No, a fish.", ANIMALS, "Z"),
    ("The image shows a bird flying over a fish in a pond nearby", ANIMALS, "Z"),  # 58 > 44
    ("I don't know", YES_NO, "Z"),  # 12 > 10
    ("I think it's A or B", ANIMALS, "Z"),  # two letters, no regex, no option text
    ("I think it's A or B", NUMBERS, "Z"),  # three letters (I, A, B)
    ("B is my choice, since the second animal in the picture looks like a loyal companion.", ANIMALS, "Z"),
    ("Answer: A\nExplanation: the cat sits on the mat and looks at the camera", ANIMALS, "Z"),  # A at 1 of 14
    ("B, because the animal is furry", ANIMALS, "Z"),  # B at 0 of 6; no option text
    ("A is wrong, B is wrong, C is wrong, so it must be D", ANIMALS, "Z"),
    ("Answer: E", ANIMALS, "Z"),  # E is not an option here
    ("C", YES_NO, "Z"),
    ("C", GAP, "Z"),  # a gap letter is not an option
    ("b", ANIMALS, "Z"),  # lower case, no regex, no option text
    ("", ANIMALS, "Z"),
    # step 1: refusals are Z even when a letter follows; an API failure skips the letter steps
    ("Sorry, I can't help with images of people yet.", ANIMALS, "Z"),
    ("I'm sorry, but without the image provided, I cannot answer. A", ANIMALS, "Z"),
    ("Cannot determine the answer from the picture.", ANIMALS, "Z"),
    ("I can't process this file.", ANIMALS, "Z"),
    ("Sorry, I can't help with images of people yet. The answer is A", ANIMALS, "Z"),
    ("Failed to obtain answer via API", ANIMALS, "Z"),
    ("Failed to obtain answer via API. A", ANIMALS, "Z"),
]


def test_table_is_large_enough():
    assert len(TABLE) >= 60


@pytest.mark.parametrize(("answer", "choices", "expected"), TABLE, ids=[repr(a)[:40] for a, _, _ in TABLE])
def test_extract_choice(answer, choices, expected):
    assert extract_choice(answer, choices) == expected


def test_signature_is_the_public_contract():
    sig = inspect.signature(extract_choice)
    assert list(sig.parameters) == ["answer", "choices"]
    assert sig.return_annotation in (str, "str")


def test_choices_are_not_mutated_and_order_decides_nothing_else():
    choices = {"A": "A Cat", "B": "A Dog"}
    assert extract_choice("a dog", choices) == "B"  # option texts are lower-cased for matching
    assert choices == {"A": "A Cat", "B": "A Dog"}  # the reference lower-cases the caller's dict; we do not


def test_non_string_answers_are_stringified():
    assert extract_choice(3, {"A": "3", "B": "4"}) == "A"  # type: ignore[arg-type]


def test_is_refusal():
    assert is_refusal("Cannot determine the answer")
    assert not is_refusal("Failed to obtain answer via API. Cannot determine the answer")
    assert not is_refusal("B")
