"""Results files of schema 1.x (written before the task contract) still load and render."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from unified_bench.errors import SchemaError
from unified_bench.report.html import write_report
from unified_bench.results.recompute import mismatches
from unified_bench.results.schema import SCHEMA_VERSION, load_results, parse_results

V1_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "results-v1"


def test_a_v1_file_is_upgraded_in_memory():
    raw = json.loads((V1_RUN / "results.json").read_text())
    assert raw["schema_version"].startswith("1.") and "image_set" in raw
    res = load_results(V1_RUN)
    assert res.schema_version == SCHEMA_VERSION
    assert res.dataset == raw["image_set"]
    n = raw["coverage"]["n_references"]
    assert res.coverage.n_samples == n and res.coverage.stages["caption"].ok == raw["coverage"]["n_captioned"]
    assert res.benchmark.view == "unified"
    # The stated aggregates are exactly what today's pure aggregation derives from the samples.
    assert mismatches(res) == []


def test_a_v1_run_directory_renders(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(V1_RUN, run)
    page = write_report(run).read_text()
    first = json.loads((V1_RUN / "results.json").read_text())["samples"][0]
    assert first["outputs"]["caption"][:20] in html.unescape(page)
    assert "missing from the run directory" not in page  # reference + reconstruction thumbnails found


def test_an_unknown_major_version_is_refused_clearly():
    raw = json.loads((V1_RUN / "results.json").read_text()) | {"schema_version": "9.0"}
    with pytest.raises(SchemaError, match="schema version 9.0"):
        parse_results(raw)
