"""The reference prompt text, character for character, and option rotation for --circular."""

from __future__ import annotations

from unified_bench.tasks.mmt.extract import extract_choice
from unified_bench.tasks.mmt.prompt import (
    build_messages,
    build_prompt_text,
    rotate_options,
    rotations,
)


def test_prompt_with_hint():
    text = build_prompt_text("What colour is the suit?", {"A": "red", "B": "white"}, hint="Indoors.")
    assert text == (
        "Hint: Indoors.\n"
        "Question: What colour is the suit?\n"
        "Options:\n"
        "A. red\n"
        "B. white\n"
        "Please select the correct answer from the options above. \n"
    )


def test_prompt_without_hint_keeps_gaps_and_multiline_questions():
    text = build_prompt_text("Line one\nline two", {"A": "x", "B": "y", "D": "z"})
    assert text == (
        "Question: Line one\nline two\nOptions:\nA. x\nB. y\nD. z\n"
        "Please select the correct answer from the options above. \n"
    )


def test_prompt_without_options_has_no_instruction():
    assert build_prompt_text("Describe.", {}) == "Question: Describe.\n"


def test_messages_put_every_image_before_the_text():
    msgs = build_messages(["im0", "im1"], "T")
    assert msgs == [{"type": "image", "value": "im0"}, {"type": "image", "value": "im1"},
                    {"type": "text", "value": "T"}]


def test_rotation_moves_texts_and_maps_letters_back():
    opts = {"A": "cat", "B": "dog", "C": "bird"}
    assert rotate_options(opts, 0) == opts
    assert rotate_options(opts, 1) == {"A": "dog", "B": "bird", "C": "cat"}
    assert rotate_options(opts, 2) == {"A": "bird", "B": "cat", "C": "dog"}
    rots = rotations(opts)
    assert [r.k for r in rots] == [0, 1, 2]
    # the key is B (dog): rotation 1 shows dog at A, rotation 2 at C
    assert [r.shown_letter("B") for r in rots] == ["B", "A", "C"]
    for r in rots:
        shown = rotate_options(opts, r.k)
        picked = extract_choice("dog", shown)  # a model that always says "dog"
        assert r.original_letter(picked) == "B"
    assert rots[1].original_letter("Z") == "Z"
    assert rots[1].original_letter("E") == "E"


def test_rotation_of_nine_options_is_a_bijection():
    opts = {letter: f"t{letter}" for letter in "ABCDEFGHI"}
    for r in rotations(opts):
        shown = rotate_options(opts, r.k)
        assert sorted(shown.values()) == sorted(opts.values())
        for letter in opts:
            assert shown[r.shown_letter(letter)] == opts[letter]
            assert r.original_letter(r.shown_letter(letter)) == letter


def test_single_option_has_one_rotation():
    assert [r.k for r in rotations({"A": "only"})] == [0]
    assert [r.k for r in rotations({})] == [0]


def test_rotated_prompt_round_trip():
    from unified_bench.tasks.mmt.prompt import rotated_prompt

    opts = {"A": "cat", "B": "dog", "C": "bird"}
    text0, shown0, rot0 = rotated_prompt("Which?", opts, None)
    assert text0 == build_prompt_text("Which?", opts) and shown0 == opts and rot0.k == 0
    text2, shown2, rot2 = rotated_prompt("Which?", opts, "h", k=2)
    assert text2 == "Hint: h\nQuestion: Which?\nOptions:\nA. bird\nB. cat\nC. dog\n" \
        "Please select the correct answer from the options above. \n"
    assert rot2.original_letter(extract_choice("C", shown2)) == "B"  # C shows dog, the original B
