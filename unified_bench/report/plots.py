"""Per-sample score distributions as inline PNG histograms.

Why: a mean with a confidence interval hides whether a model is uniformly mediocre or mostly
fine with a tail of disasters; one histogram per metric shows which. Drawn with matplotlib's
object API on the Agg canvas (no pyplot global state, no display needed) and embedded as base64
so the report stays a single file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Histogram:
    """One embedded plot: which metric, how many values went into it, and the PNG data URI."""

    metric: str
    n: int
    src: str


def histogram_png(values: Sequence[float], title: str, xlabel: str, bins: int = 20) -> str:
    """Histogram of ``values`` (the data's own range) with its mean marked, as a PNG data URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    fig = Figure(figsize=(4.0, 2.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    hist_range = None
    if finite and max(finite) - min(finite) < 1e-6:
        # (Nearly) identical values, e.g. a perfect reconstruction everywhere: numpy cannot cut a
        # sub-ulp range into bins, so draw one bin around the value.
        centre = sum(finite) / len(finite)
        hist_range = (centre - 0.5e-3, centre + 0.5e-3)
        bins = 1
    if finite:
        ax.hist(finite, bins=bins, range=hist_range, color="#4f6fb3", edgecolor="white")
        mean = sum(finite) / len(finite)
        ax.axvline(mean, color="#c0392b", linestyle="--", linewidth=1.2, label=f"mean {mean:.3g}")
        ax.legend(loc="best", fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{title} (n={len(finite)})", fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("samples", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
