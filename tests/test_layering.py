"""Import rules between packages, checked on the source (no imports executed).

- ``unified_bench.core`` imports nothing else from the project (both packages build on it);
- ``data_pipeline`` reaches into ``unified_bench`` only through ``unified_bench.core`` (and the demo
  builders, which are test/benchmark helpers, never from package code);
- ``unified_bench.data`` never imports ``unified_bench.demo`` (the demo builds on the data layer);
- the runner, results and report never import a concrete task.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(folder: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                out.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
    return out


def test_core_imports_nothing_else_from_the_project():
    bad = [(f, m) for f, m in _imports("unified_bench/core")
           if m.startswith("unified_bench") and not m.startswith("unified_bench.core")]
    assert bad == []


def test_data_pipeline_uses_only_the_shared_core():
    bad = [(f, m) for f, m in _imports("data_pipeline")
           if m.startswith("unified_bench") and not m.startswith("unified_bench.core")]
    assert bad == []


def test_data_layer_does_not_import_the_demo():
    assert [(f, m) for f, m in _imports("unified_bench/data") if m.startswith("unified_bench.demo")] == []


def test_runner_results_and_report_name_no_concrete_task():
    for folder in ("unified_bench/runner", "unified_bench/results", "unified_bench/report"):
        bad = [(f, m) for f, m in _imports(folder)
               if m.startswith("unified_bench.tasks.") and m != "unified_bench.tasks.base"]
        assert bad == [], folder
