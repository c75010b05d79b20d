"""The HTML report rendered from a synthetic, schema-valid run directory."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from unified_bench.errors import SchemaError
from unified_bench.report.html import write_report
from unified_bench.results.schema import SCHEMA_VERSION, write_results

from .conftest import IN_OVERALL, TRICKY_CAPTION, TRICKY_ERROR, SampleSpec, build_results, default_samples


class _Page(HTMLParser):
    """Collects what the assertions need: attributes of tags, sample rows and their cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[dict] = []  # {"id", "status", "cells": [{"value", "text"}], "imgs": [...], "text"}
        self._row: dict | None = None
        self._cell: dict | None = None
        self.sortable_headers: list[dict[str, str | None]] = []
        self.histograms: list[dict[str, str | None]] = []
        self._in_hist = False
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        cls = (a.get("class") or "").split()
        if tag == "tr" and "sample" in cls:
            self._row = {
                "id": a.get("data-id"),
                "status": a.get("data-status"),
                "cells": [],
                "imgs": [],
                "text": "",
            }
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = {"value": a.get("data-value"), "text": ""}
            self._row["cells"].append(self._cell)
        elif tag == "img" and self._row is not None:
            self._row["imgs"].append(a.get("src"))
        elif tag == "th" and "sortable" in cls:
            self.sortable_headers.append(a)
        elif tag == "figure" and "histogram" in cls:
            self._in_hist = True
            self.histograms.append({"metric": a.get("data-metric")})
        elif tag == "img" and self._in_hist:
            self.histograms[-1]["src"] = a.get("src")
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        elif tag == "td":
            self._cell = None
        elif tag == "figure":
            self._in_hist = False
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._row is not None:
            self._row["text"] += data
        if self._in_script:
            self.scripts[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _decode_data_uri(uri: str) -> Image.Image:
    header, payload = uri.split(",", 1)
    assert header.endswith(";base64")
    img = Image.open(io.BytesIO(base64.b64decode(payload)))
    img.load()
    return img


def _expected_mean(scores: dict[str, float | None]) -> float | None:
    vals = [scores[m] for m in IN_OVERALL if scores.get(m) is not None]
    return sum(vals) / len(vals) if vals else None


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One full report shared by the read-only tests (rendering it is the slow part)."""
    run_dir = tmp_path_factory.mktemp("run")
    results = build_results(run_dir)
    write_results(results, run_dir / "results.json")
    out = write_report(run_dir)
    text = out.read_text(encoding="utf-8")
    return run_dir, results, out, text, _parse(text)


def test_writes_default_path_atomically(rendered):
    run_dir, _, out, text, _ = rendered
    assert out == run_dir / "report.html"
    assert text.startswith("<!DOCTYPE html>")
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_custom_output_path_and_results_file_argument(make_run_dir, tmp_path):
    run_dir, _ = make_run_dir()
    target = tmp_path / "elsewhere" / "r.html"
    assert write_report(run_dir / "results.json", target) == target
    assert target.is_file() and not (run_dir / "report.html").exists()


def test_self_contained(rendered):
    _, _, _, text, page = rendered
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            val = attrs.get(key)
            if val is not None:
                assert not re.match(r"\s*(https?:)?//", val), f"external {key} on <{tag}>: {val[:80]}"
        if tag == "img":
            assert attrs["src"].startswith("data:image/"), attrs["src"][:40]
        assert tag not in ("link", "iframe")
        if tag == "script":
            assert "src" not in attrs
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", text)
    assert "@import" not in text and "url(http" not in text


def test_every_sample_appears_once(rendered):
    _, results, _, text, page = rendered
    assert sorted(r["id"] for r in page.rows) == sorted(s.id for s in results.samples)
    for r in page.rows:
        assert r["cells"][0]["text"] == r["id"]  # the visible id cell, decoded by the parser
    assert 'x<&>"id' not in text  # the tricky id only ever appears escaped
    assert "x&lt;&amp;&gt;" in text


def test_captions_and_errors_are_escaped(rendered):
    _, _, _, text, page = rendered
    assert TRICKY_CAPTION not in text
    assert "<script>alert" not in text and "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(" in text and "&lt;b&gt;bold&lt;/b&gt;" in text and "a cat &amp; a" in text
    row = next(r for r in page.rows if r["id"] == 'x<&>"id')
    assert TRICKY_CAPTION in row["text"]  # decoded back by the parser: the text survived intact
    assert "<oom>" not in text and "&lt;oom&gt;" in text
    assert len(page.scripts) == 1  # only the page's own sort script


def test_failed_sample_shows_error_and_placeholder(rendered):
    _, _, _, _, page = rendered
    row = next(r for r in page.rows if r["id"] == "img_failed")
    assert row["status"] == "failed"
    assert TRICKY_ERROR in row["text"]
    gen = row["imgs"][1]
    assert gen.startswith("data:image/svg+xml;base64,")
    assert b"failed" in base64.b64decode(gen.split(",", 1)[1])
    score_cells = [c for c in row["cells"] if c["value"] is not None]  # cells carrying data-value
    # overall + the four encoders read 0 (a failure counts as 0); lpips / ssim / psnr are blank
    assert [c["value"] for c in score_cells] == ["0.0"] * 5 + [""] * 3


def test_missing_image_file_is_placeholder_with_note(rendered):
    _, _, _, text, page = rendered
    row = next(r for r in page.rows if r["id"] == "img_missing")
    assert row["imgs"][1].startswith("data:image/svg+xml;base64,")
    assert row["imgs"][0].startswith("data:image/")  # the reference is still there
    assert "not found in the run directory" in row["text"]
    assert "1 image file(s) listed in results.json are missing" in text


def test_default_order_is_worst_first(rendered):
    _, results, _, _, page = rendered
    by_id = {s.id: s for s in results.samples}
    means = [_expected_mean(by_id[r["id"]].scores) for r in page.rows]
    scored = [m for m in means if m is not None]
    lowest = min(scored)
    assert means[0] == pytest.approx(lowest)
    assert [r["id"] for r in page.rows[:2]] == ["img_failed", "img_worst"]  # a failure scores 0
    assert scored == sorted(scored)
    assert means[len(scored) :] == [None] * (len(means) - len(scored))  # unscored rows last
    # the displayed per-sample mean (first score cell) matches an independent computation
    for r, m in zip(page.rows, means, strict=True):
        overall_cell = r["cells"][4]
        if m is None:
            assert overall_cell["value"] == ""
        else:
            assert float(overall_cell["value"]) == pytest.approx(m)
            assert f"{m:.4f}" in overall_cell["text"]


def test_score_columns_are_sortable(rendered):
    _, results, _, _, page = rendered
    assert len(page.sortable_headers) == len(results.metrics) + 1  # every metric + the per-sample mean
    hib = {h.get("data-hib") for h in page.sortable_headers}
    assert hib == {"0", "1"}  # lpips is lower-is-better, its first click sorts worst (highest) first
    script = page.scripts[0]
    assert 'addEventListener("click"' in script and "rows.sort" in script
    for r in page.rows:  # every score cell carries a machine-readable sort value
        assert len([c for c in r["cells"] if c["value"] is not None]) == len(results.metrics) + 1


def test_histograms_embedded(rendered):
    _, results, _, _, page = rendered
    metrics = [h["metric"] for h in page.histograms]
    assert metrics == [m.name for m in results.metrics] + ["overall"]
    for h in page.histograms:
        assert h["src"].startswith("data:image/png;base64,")
        img = _decode_data_uri(h["src"])
        assert img.format == "PNG" and img.width > 100


def test_thumbnails_are_downscaled_and_keep_alpha(rendered):
    _, _, _, _, page = rendered
    worst = next(r for r in page.rows if r["id"] == "img_worst")  # 600x400 JPEG reference
    thumb = _decode_data_uri(worst["imgs"][0])
    assert max(thumb.size) == 256 and thumb.size == (256, 171) and thumb.format == "JPEG"
    tricky = next(r for r in page.rows if r["id"] == 'x<&>"id')  # RGBA reference
    assert _decode_data_uri(tricky["imgs"][0]).format == "PNG"


def test_header_summary_and_provenance(rendered):
    _, results, _, text, _ = rendered
    assert "hf:example-org/tiny-unified" in text
    assert '<td>unified <span class="muted">v1.0</span>' in text
    assert "tiny-set" in text and "c" * 64 in text and "a" * 64 in text
    assert "badge standard" in text
    for name, agg in results.aggregates.items():
        assert name in text
        assert (f"{agg.mean:.2f}" if abs(agg.mean) >= 1 else f"{agg.mean:.4f}") in text
    assert "[50.00, 60.00]" in text  # overall 95% CI
    lp = results.aggregates["lpips"]
    assert f"[{lp.ci_low:.4f}, {lp.ci_high:.4f}]" in text  # CI bounds at the mean's precision
    assert "80.0%" in text  # coverage: 4 of 5 scored
    assert "0123456789abcdef0123456789abcdef01234567" in text
    assert "2.14.1" in text and "transformers" in text
    assert "1:02:05" in text  # wall time 3725 s
    assert "tiny/dinov3" in text and "resize 32 &lt;bicubic&gt;" in text  # encoder details, escaped
    assert "<tr><th>seed</th><td>1234</td></tr>" in text and "float32" in text


def test_non_standard_and_demo_notice(make_run_dir):
    run_dir, _ = make_run_dir(
        standard=False,
        non_standard_reasons=["encoder clip uses checkpoint tiny/clip <local>"],
        overall=False,
        settings={"notice": "RANDOM WEIGHTS <demo>: numbers are meaningless", "random_weights": True},
    )
    text = write_report(run_dir).read_text(encoding="utf-8")
    assert "badge nonstandard" in text
    assert "encoder clip uses checkpoint tiny/clip &lt;local&gt;" in text
    assert "RANDOM WEIGHTS &lt;demo&gt;: numbers are meaningless" in text
    assert 'class="notice"' in text and "Random-weights demo" in text
    assert "not computed for this run (non-standard metric subset)" in text


def test_standard_run_has_no_demo_notice(rendered):
    assert 'class="notice"' not in rendered[3]


def test_image_path_outside_run_dir_is_refused(make_run_dir, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(secret)
    samples = default_samples()[:1] + [
        SampleSpec("escape", {m: 0.5 for m in IN_OVERALL}, reference_path="../secret.png")
    ]
    run_dir, _ = make_run_dir(samples=samples)
    page = _parse(write_report(run_dir).read_text(encoding="utf-8"))
    row = next(r for r in page.rows if r["id"] == "escape")
    assert row["imgs"][0].startswith("data:image/svg+xml")
    assert "outside the run directory" in row["text"]


def test_unreadable_image_is_placeholder(make_run_dir):
    run_dir, results = make_run_dir(samples=default_samples()[:2])
    gen = run_dir / results.samples[0].outputs["generated_image"]
    gen.write_bytes(b"not a png")
    page = _parse(write_report(run_dir).read_text(encoding="utf-8"))
    row = next(r for r in page.rows if r["id"] == "img_good")
    assert row["imgs"][1].startswith("data:image/svg+xml") and "could not be decoded" in row["text"]


def test_missing_results_json_raises_schema_error(tmp_path):
    with pytest.raises(SchemaError, match="No results file"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_other_schema_version_raises_naming_both(make_run_dir):
    run_dir, _ = make_run_dir()
    path = run_dir / "results.json"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            f'"schema_version": "{SCHEMA_VERSION}"', '"schema_version": "99.0"'
        )
    )
    with pytest.raises(SchemaError) as exc:
        write_report(run_dir)
    assert "99.0" in str(exc.value) and SCHEMA_VERSION in str(exc.value)
    assert not (run_dir / "report.html").exists()


def test_report_never_imports_models(make_run_dir):
    """Presentation reads results only: rendering must not pull in torch or a model adapter."""
    import sys

    run_dir, _ = make_run_dir(samples=default_samples()[:2])
    code = (
        "import sys; from pathlib import Path; from unified_bench.report.html import write_report; "
        f"write_report(Path({str(run_dir)!r})); "
        "bad = [m for m in ('torch', 'transformers', 'diffusers', 'unified_bench.models') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_written_report_is_valid_utf8_and_small(rendered):
    _, _, out, _, _ = rendered
    assert out.stat().st_size < 2_000_000
    assert "\ufffd" not in Path(out).read_bytes().decode("utf-8")  # no replacement characters


_FAKE_DOM = r"""
// Just enough DOM for the report's sort script: rows with cells carrying data-value.
function el(dataset, extra) { return Object.assign({ dataset: dataset, attrs: {},
  setAttribute(k, v) { this.attrs[k] = v; }, getAttribute(k) { return this.attrs[k]; } }, extra || {}); }
const spec = JSON.parse(process.argv[2]);
const headers = spec.headers.map((h, i) => el({ hib: h.hib }, {
  cellIndex: h.index, listeners: [], classList: { contains: (c) => c === "sortable" },
  addEventListener(type, fn) { this.listeners.push(fn); } }));
if (spec.initial !== null) { headers[spec.initial].dataset.dir = "asc"; }
const rows = spec.rows.map((r) => el({ id: r.id }, { cells: r.values.map((v) => el({ value: v })) }));
const tbody = { rows: rows.slice(), appendChild(frag) { this.rows = frag.children.slice(); } };
global.document = {
  getElementById: (id) => (id === "samples" ? { tBodies: [tbody], tHead: { rows: [{ cells: headers }] } } : null),
  createDocumentFragment: () => ({ children: [], appendChild(c) { this.children.push(c); } }),
};
global.window = {};
eval(spec.script);
const out = [];
for (const click of spec.clicks) {
  headers[click].listeners.forEach((fn) => fn());
  out.push(tbody.rows.map((r) => r.dataset.id));
}
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sort_script_behaviour_in_node(rendered, tmp_path):
    """Run the page's own script on its own table data: clicks sort worst-first, then reverse."""
    _, results, _, _, page = rendered
    headers = page.sortable_headers
    # cells: id, original, reconstruction, caption, overall, metrics...; sortable headers start at column 4
    spec = {
        "script": page.scripts[0],
        "headers": [{"hib": h["data-hib"], "index": 4 + i} for i, h in enumerate(headers)],
        "initial": 0,
        "rows": [{"id": r["id"], "values": [c["value"] or "" for c in r["cells"]]} for r in page.rows],
        "clicks": [],
    }
    names = ["overall"] + [m.name for m in results.metrics]
    lpips, clip = names.index("lpips"), names.index("clip")
    spec["clicks"] = [0, lpips, lpips, clip, 0]
    js = tmp_path / "sort.js"
    js.write_text(_FAKE_DOM, encoding="utf-8")
    proc = subprocess.run(
        ["node", str(js), json.dumps(spec)], capture_output=True, text=True, timeout=60, check=True
    )
    overall_desc, by_lpips_worst, by_lpips_best, by_clip_worst, overall_again = json.loads(proc.stdout)
    lp = {s.id: s.scores["lpips"] for s in results.samples}
    cl = {s.id: s.scores["clip"] for s in results.samples}
    scored = [i for i in lp if lp[i] is not None]
    # lpips is lower-is-better: its first click puts the highest (worst) values first
    assert by_lpips_worst[: len(scored)] == sorted(scored, key=lambda i: -lp[i])
    assert by_lpips_best[: len(scored)] == sorted(scored, key=lambda i: lp[i])
    assert by_clip_worst == sorted(cl, key=lambda i: cl[i])  # every sample has a clip score
    assert overall_desc[0] == "img_good"  # overall starts sorted ascending: the first click reverses it
    assert overall_again == [r["id"] for r in page.rows]  # back on overall after another column: worst first
    # the failed sample scores 0 on the encoders, so it is the worst there; it has no lpips, and
    # unscored rows stay last in both directions
    assert overall_again[0] == by_clip_worst[0] == "img_failed" and overall_desc[-1] == "img_failed"
    assert by_lpips_worst[-1] == by_lpips_best[-1] == "img_failed"


def test_partial_scores_and_undeclared_metric(make_run_dir):
    """A sample missing some in-overall scores is averaged over what it has, and flagged."""
    samples = [
        SampleSpec("full", {"clip": 0.2, "dinov2": 0.4, "dinov3": 0.6, "longclip": 0.8, "extra_metric": 3.0}),
        SampleSpec("partial", {"clip": 0.1, "dinov2": None, "dinov3": None, "longclip": None}),
    ]
    run_dir, _ = make_run_dir(samples=samples)
    page = _parse(write_report(run_dir).read_text(encoding="utf-8"))
    assert [r["id"] for r in page.rows] == ["partial", "full"]  # 0.1 < 0.5
    partial, full = page.rows
    assert float(partial["cells"][4]["value"]) == pytest.approx(0.1) and "*" in partial["cells"][4]["text"]
    assert float(full["cells"][4]["value"]) == pytest.approx(0.5) and "*" not in full["cells"][4]["text"]
    assert "extra_metric" in [h["metric"] for h in page.histograms]  # undeclared score still shown
    assert len(page.sortable_headers) == 7 + 1 + 1


def test_histogram_of_identical_values_does_not_crash():
    """A lossless model scores 1.0 (+- float eps) everywhere: a zero-width range must still plot."""
    from unified_bench.report.plots import histogram_png

    src = histogram_png([1.0, 0.99999994, 1.0000001], "clip", "cosine")
    assert src.startswith("data:image/png;base64,")
