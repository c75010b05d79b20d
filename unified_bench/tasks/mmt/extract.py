"""Multiple-choice answer extraction: the reference harness's deterministic chain, quirks included.

Why a faithful copy of the behaviour (not an improvement): MMT-Bench numbers are only comparable
when the model's free-text answer is mapped to a letter exactly as VLMEvalKit maps it
(``vlmeval/utils/matching_util.py``: ``can_infer_option`` then ``can_infer_text``, used by
``extract_answer_from_item`` with the ``exact_matching`` policy). Any "smarter" parsing raises or
lowers scores relative to every published number. The chain is deterministic: where the reference
would call an LLM judge or, failing that, draw a random letter, this module answers ``"Z"``
(unresolved, counted wrong). An LLM judge is a separate, explicit opt-in layered on top (see
``UnresolvedJudge``); nothing here calls one.

The chain, applied to the raw model output ``answer`` and the question's options ``choices``
(letter -> option text, unused letters absent):

1. ``"Failed to obtain answer via API"`` anywhere: skip to step 4. One of the stock refusals
   anywhere (``REFUSALS``): ``"Z"``.
2. Replace each of ``.()[],:;!*#{}`` by a space, split on whitespace. If exactly one option letter
   occurs as a whole token (case-sensitive) and its first occurrence is at token position
   ``> n_tokens - 5`` (0-based): that letter. If no option letter occurs but a ``Z`` token does:
   ``"Z"``.
3. The first match of ``(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**`` in the raw answer,
   upper-cased, if that letter is an option. Quirks kept: only A-D, and case-insensitive, so
   "the answer is a dog" yields ``A``.
4. If ``len(answer.lower())`` is at most twice the summed length of all option texts and exactly
   one option text (lower-cased) is a substring of the lower-cased answer: that option.
5. Otherwise ``"Z"``.

Differences from the reference, all deliberate: (a) the reference's ``VERBOSE`` environment switch
(which, when set, makes an answer containing a token ``A`` among more than three tokens fail step 2
and skip step 3) is ignored, so the result never depends on the environment; (b) the reference
mutates the caller's ``choices`` dict in step 4 (lower-casing it); this function does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

#: The letter the chain returns for a refusal or an answer it cannot map to an option.
UNRESOLVED = "Z"

#: A failed API call: the reference skips the letter steps (1-3) and tries the option text only.
API_FAILURE = "Failed to obtain answer via API"

#: Stock refusals: an answer containing any of them is ``Z`` (counted wrong).
REFUSALS: tuple[str, ...] = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)

#: Characters replaced by a space before the answer is split into tokens (step 2).
_PUNCTUATION = ".()[],:;!*#{}"
_PUNCT_TABLE = str.maketrans({c: " " for c in _PUNCTUATION})

#: Step 2 accepts a lone letter only among the last four tokens: position > n_tokens - 5.
_TAIL_TOKENS = 5

#: Step 3: "answer is B", "correct answer is **C**"; A-D only and case-insensitive, as in the reference.
VERBOSE_ANSWER_RE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _tokens(answer: str) -> list[str]:
    return answer.translate(_PUNCT_TABLE).split()


def infer_letter(answer: str, choices: Mapping[str, str]) -> str | None:
    """Steps 1-3: the letter the answer names, ``"Z"`` for a refusal, or None to fall through.

    Mirrors the reference's ``can_infer_option`` (which returns ``False`` where this returns None).
    """
    if API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in REFUSALS):
        return UNRESOLVED
    tokens = _tokens(answer)
    present = [letter for letter in choices if letter in tokens]
    if len(present) == 1:
        letter = present[0]
        if tokens.index(letter) > len(tokens) - _TAIL_TOKENS:
            return letter
        # a lone letter early in a long answer is not trusted: fall through to step 3
    elif not present and UNRESOLVED in tokens:
        return UNRESOLVED
    match = VERBOSE_ANSWER_RE.search(answer)
    if match and match.group(1).upper() in choices:
        return match.group(1).upper()
    return None


def infer_from_text(answer: str, choices: Mapping[str, str]) -> str | None:
    """Step 4: the one option whose text the (short enough) answer contains, else None.

    Mirrors the reference's ``can_infer_text``: the answer is lower-cased before its length is
    compared with twice the summed length of the option texts as given.
    """
    lowered = answer.lower()
    if len(lowered) > 2 * sum(len(str(text)) for text in choices.values()):
        return None
    hits = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def extract_choice(answer: str, choices: Mapping[str, str]) -> str:
    """The option letter ``answer`` selects, or ``"Z"`` when refused or unresolved (counted wrong).

    ``choices`` maps each used option letter (``"A"``..``"I"``) to its text, in letter order.
    Pure and deterministic; see the module docstring for the chain.
    """
    answer = str(answer)
    return infer_letter(answer, choices) or infer_from_text(answer, choices) or UNRESOLVED


class UnresolvedJudge(Protocol):
    """Extension point for an opt-in LLM judge (not part of the default, reference-matching score).

    Called only for answers ``extract_choice`` left at ``"Z"`` *that were not refusals* (see
    ``is_refusal``), with the question text and its options; returns a letter of ``choices`` or
    ``"Z"``. A run that uses one must record the judge's identity in its results, because its
    numbers are no longer the reference's exact-matching numbers.
    """

    def __call__(self, question: str, answer: str, choices: Mapping[str, str]) -> str: ...


def is_refusal(answer: str) -> bool:
    """True when step 1 alone decides ``"Z"`` (a stock refusal; an LLM judge must not override it)."""
    answer = str(answer)
    return API_FAILURE not in answer and any(refusal in answer for refusal in REFUSALS)
