"""The matrix's derived figures: does a unified model's understanding serve its own generation?

Pure functions of ``{(captioner, generator): score}`` (higher is better), so they are checked by
hand in ``tests/matrix/test_derived.py`` and recomputable from matrix.json alone.

For a model M that is both a captioner and a generator, with own-loop score ``S[M, M]``:

- ``understanding_serves_generation(M) = S[M, M] - max_{C != M} S[C, M]``: M's generator fed by
  M's captions versus by the best other captioner. Positive: its own understanding serves its
  generation better than anyone else's.
- ``generation_serves_understanding(M) = S[M, M] - max_{G != M} S[M, G]``: M's captions rendered
  by M's generator versus by the best other generator.

Rows named in ``exclude`` (the "reference" descriptions) are not a model's understanding and are
left out of the cross maxima; a figure with no cross cell (or a missing own cell) is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Scores = Mapping[tuple[str, str], "float | None"]

#: The label of the row whose captions are the data set's reference descriptions.
REFERENCE = "reference"


@dataclass(frozen=True)
class Derived:
    model: str
    own_loop: float | None
    best_other_captioner: str | None
    understanding_serves_generation: float | None
    best_other_generator: str | None
    generation_serves_understanding: float | None


def _best(cells: Iterable[tuple[str, float | None]]) -> tuple[str | None, float | None]:
    known = [(name, v) for name, v in cells if v is not None]
    if not known:
        return None, None
    name, value = max(known, key=lambda nv: (nv[1], nv[0]))  # ties: the later name, deterministically
    return name, value


def unified_models(captioners: Iterable[str], generators: Iterable[str]) -> list[str]:
    """Models that appear as both (in captioner order): the matrix's diagonal."""
    gens = set(generators)
    return [c for c in captioners if c in gens]


def derived_for(model: str, scores: Scores, exclude: Iterable[str] = (REFERENCE,)) -> Derived:
    """The two figures of ``model`` (see the module docstring)."""
    skip = set(exclude) | {model}
    own = scores.get((model, model))
    cap_name, cap_best = _best((c, v) for (c, g), v in scores.items() if g == model and c not in skip)
    gen_name, gen_best = _best((g, v) for (c, g), v in scores.items() if c == model and g not in skip)
    return Derived(
        model=model,
        own_loop=own,
        best_other_captioner=cap_name,
        understanding_serves_generation=None if own is None or cap_best is None else own - cap_best,
        best_other_generator=gen_name,
        generation_serves_understanding=None if own is None or gen_best is None else own - gen_best,
    )


def derived_figures(captioners: Iterable[str], generators: Iterable[str], scores: Scores) -> list[Derived]:
    """``derived_for`` every model on the diagonal."""
    captioners, generators = list(captioners), list(generators)
    return [derived_for(m, scores) for m in unified_models(captioners, generators)]
