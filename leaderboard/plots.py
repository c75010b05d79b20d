"""Server-side SVG plots (no JavaScript, no CDN): bars with confidence intervals, score vs. size.

The geometry is computed here and drawn by autoescaped SVG templates, so a model name in a label is
text, never markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    mean: float
    low: float
    high: float
    href: str = ""


def bar_geometry(bars: list[Bar], width: int = 640, row: int = 22, label_w: int = 220) -> dict:
    """Horizontal bars (mean) with CI whiskers on a shared axis from min(0, lows) to max(highs)."""
    lo = min([0.0, *(b.low for b in bars)])
    hi = max([1e-9, *(b.high for b in bars)])
    span = (hi - lo) or 1.0
    plot_w = width - label_w - 20

    def x(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    items = []
    for i, b in enumerate(bars):
        y = 10 + i * row
        items.append({"label": b.label if len(b.label) <= 32 else b.label[:31] + "…", "href": b.href, "y": y, "x0": x(max(lo, 0.0)), "x1": x(b.mean),
                      "lx": x(b.low), "hx": x(b.high), "mean": b.mean})
    ticks = [{"x": x(lo + span * k / 4), "v": lo + span * k / 4} for k in range(5)]
    return {"width": width, "height": 30 + len(bars) * row, "items": items, "ticks": ticks,
            "axis_y": 12 + len(bars) * row, "label_w": label_w}


def scatter_geometry(points: list[tuple[str, float, float, float, float]], width: int = 640,
                     height: int = 360) -> dict:
    """Score vs. model size (log x): points are (label, params_b, mean, low, high)."""
    pad = 50
    if not points:
        return {"width": width, "height": height, "items": [], "xticks": [], "yticks": [], "pad": pad}
    xs = [math.log10(p[1]) for p in points]
    x_lo, x_hi = math.floor(min(xs)), math.ceil(max(xs)) + (1 if math.ceil(max(xs)) == math.floor(min(xs)) else 0)
    y_lo, y_hi = min(p[3] for p in points), max(p[4] for p in points)
    y_span = (y_hi - y_lo) or 1.0

    def px(v: float) -> float:
        return pad + (math.log10(v) - x_lo) / (x_hi - x_lo) * (width - 2 * pad)

    def py(v: float) -> float:
        return height - pad - (v - y_lo) / y_span * (height - 2 * pad)

    items = [{"label": p[0][:60], "x": px(p[1]), "y": py(p[2]), "yl": py(p[3]), "yh": py(p[4]),
              "params": p[1], "mean": p[2]} for p in points]
    xticks = [{"x": px(10.0**e), "v": f"{10.0**e:g}B"} for e in range(x_lo, x_hi + 1)]
    yticks = [{"y": py(y_lo + y_span * k / 4), "v": y_lo + y_span * k / 4} for k in range(5)]
    return {"width": width, "height": height, "items": items, "xticks": xticks, "yticks": yticks, "pad": pad}
