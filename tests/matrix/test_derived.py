"""The matrix's derived figures, against a grid computed by hand."""

from __future__ import annotations

import pytest

from unified_bench.matrix.derived import derived_figures, derived_for, unified_models

#                 generator A   generator C
# captioner A          60            50
# captioner B          55            65
# reference            70            80
GRID = {("A", "A"): 60.0, ("A", "C"): 50.0, ("B", "A"): 55.0, ("B", "C"): 65.0,
        ("reference", "A"): 70.0, ("reference", "C"): 80.0}


def test_own_loop_minus_best_cross_by_hand():
    d = derived_for("A", GRID)
    assert d.own_loop == 60.0
    # A's generator fed by A's captions (60) vs by the best other captioner, B (55): +5.
    # The reference row (70) is not a model's understanding and is left out.
    assert d.best_other_captioner == "B" and d.understanding_serves_generation == pytest.approx(5.0)
    # A's captions rendered by A's generator (60) vs by the best other generator, C (50): +10.
    assert d.best_other_generator == "C" and d.generation_serves_understanding == pytest.approx(10.0)


def test_negative_when_another_model_serves_better():
    grid = dict(GRID) | {("B", "A"): 72.5}
    assert derived_for("A", grid).understanding_serves_generation == pytest.approx(-12.5)


def test_only_models_on_both_axes_get_figures():
    assert unified_models(["A", "B", "reference"], ["A", "C"]) == ["A"]
    assert [d.model for d in derived_figures(["A", "B", "reference"], ["A", "C"], GRID)] == ["A"]


def test_missing_cells_give_none_not_zero():
    alone = derived_for("A", {("A", "A"): 60.0})  # no other captioner or generator
    assert alone.understanding_serves_generation is None and alone.generation_serves_understanding is None
    failed_own = derived_for("A", {("A", "A"): None, ("B", "A"): 55.0, ("A", "C"): 50.0})
    assert failed_own.own_loop is None and failed_own.understanding_serves_generation is None
    failed_cross = derived_for("A", {("A", "A"): 60.0, ("B", "A"): None, ("A", "C"): 50.0})
    assert failed_cross.understanding_serves_generation is None
    assert failed_cross.generation_serves_understanding == pytest.approx(10.0)
