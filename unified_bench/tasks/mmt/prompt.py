"""The reference prompt for a multiple-choice question, and option rotation for ``--circular``.

Why the exact text: VLMEvalKit's ``ImageMCQDataset.build_prompt`` is what published MMT-Bench
numbers were measured with (for models that do not override it); a different wording changes
scores. The message is one image per image of the question, then one text part:

    Hint: {hint}\\n                      (only when the question has a hint)
    Question: {question}\\n
    Options:\\n                          (this line, the options and the instruction only when
    A. {A}\\n                            the question has at least one option)
    B. {B}\\n
    ...
    Please select the correct answer from the options above. \\n

(note the space before the final newline). Options are listed in letter order; unused letters
are absent, so a gap (A, B, D) is kept as is, exactly as the reference lists them.

Rotation (beyond the reference, CircularEval-style): rotation ``k`` of ``n`` options puts the
text of original option ``(i + k) mod n`` at letter position ``i``. A model that answers the
same content in every rotation names a different letter each time; ``original_letter`` maps it
back so the answer can be checked against the original key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INSTRUCTION = "Please select the correct answer from the options above. \n"


def build_prompt_text(question: str, options: Mapping[str, str], hint: str | None = None) -> str:
    """The text part of the reference prompt (see the module docstring)."""
    text = f"Hint: {hint}\n" if hint is not None else ""
    text += f"Question: {question}\n"
    if options:
        text += "Options:\n"
        text += "".join(f"{letter}. {option}\n" for letter, option in options.items())
        text += INSTRUCTION
    return text


def build_messages(images: Sequence[Any], text: str) -> list[dict[str, Any]]:
    """The reference message list: one ``{"type": "image"}`` per image, then the text."""
    return [{"type": "image", "value": im} for im in images] + [{"type": "text", "value": text}]


@dataclass(frozen=True)
class Rotation:
    """Rotation ``k`` of a question's options (``k = 0`` is the original order)."""

    k: int
    letters: tuple[str, ...]  # the original letters, in order (the rotated options reuse them)

    @property
    def n(self) -> int:
        return len(self.letters)

    def original_letter(self, shown: str) -> str:
        """The original letter of the option shown as ``shown``; letters not shown pass through.

        ``"Z"`` (unresolved) and any letter that was not an option stay as they are, so they are
        still counted wrong.
        """
        if shown not in self.letters:
            return shown
        i = self.letters.index(shown)
        return self.letters[(i + self.k) % self.n]

    def shown_letter(self, original: str) -> str:
        """Where original option ``original`` appears in this rotation (the rotated answer key)."""
        i = self.letters.index(original)
        return self.letters[(i - self.k) % self.n]


def rotations(options: Mapping[str, str]) -> list[Rotation]:
    """All ``n`` rotations of a question with ``n`` options (one, the identity, when ``n <= 1``)."""
    letters = tuple(options)
    return [Rotation(k, letters) for k in range(max(1, len(letters)))]


def rotate_options(options: Mapping[str, str], k: int) -> dict[str, str]:
    """Rotation ``k`` of ``options``: letter ``i`` shows the text of original option ``(i + k) mod n``."""
    letters = list(options)
    texts = [options[letter] for letter in letters]
    n = len(letters)
    if n == 0:
        return {}
    return {letter: texts[(i + k) % n] for i, letter in enumerate(letters)}


def rotated_prompt(question: str, options: Mapping[str, str], hint: str | None, k: int = 0
                   ) -> tuple[str, dict[str, str], Rotation]:
    """The prompt text for rotation ``k``, the options as shown, and the rotation to map answers back.

    ``k = 0`` is the standard (reference) prompt. Extract the letter with the *shown* options, then
    ``rotation.original_letter(letter)`` gives the letter to compare with the original key.
    """
    shown = rotate_options(options, k)
    return build_prompt_text(question, shown, hint), shown, Rotation(k, tuple(options))
