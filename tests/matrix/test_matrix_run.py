"""The 2 x 2 matrix on tiny demo models (+ the reference row): each caption and image computed once.

Captioners: demo Janus and demo LLaVA; generators: demo Janus and demo Stable Diffusion. The pairs
run in-process through an executor that counts every request it computes, by stage and by the
component that produced it; a second matrix into a fresh directory sharing the cache computes nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter

import pytest

from unified_bench.matrix.run import MatrixEntry, MatrixSpec, run_matrix
from unified_bench.matrix.schema import load_matrix
from unified_bench.models.base import Capability
from unified_bench.runner.executor import BatchCall, LocalExecutor

LIMIT = 3


class CountingExecutor(LocalExecutor):
    def __init__(self, adapter, counts: Counter) -> None:
        super().__init__(adapter)
        self.counts = counts

    def run(self, call: BatchCall):
        producer = self.adapter.identity_for(Capability(call.kind)).spec
        self.counts[(call.stage, producer)] += len(call.requests)
        return super().run(call)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, demo_encoders, demo_image_dir):
    from unified_bench.data.folder import image_files
    from unified_bench.demo.models import build_demo_janus, build_demo_t2i, build_demo_vlm
    from unified_bench.demo.runs import unified_demo_run

    root = tmp_path_factory.mktemp("matrix")
    images = root / "images"
    images.mkdir()
    for n, path in enumerate(image_files(demo_image_dir)[:LIMIT]):
        shutil.copy(path, images / path.name)
        if n < 2:  # the third image has no reference description (its reference cell fails: scores 0)
            (images / f"{path.stem}.txt").write_text(f"a photograph, number {n}, in soft light\n")
    models = {
        "janus": str(build_demo_janus(root / "janus")),
        "llava": str(build_demo_vlm(root / "llava")),
        "sd": str(build_demo_t2i(root / "sd")),
    }
    base = dataclasses.replace(unified_demo_run(models["janus"], demo_encoders), model=None, data=str(images))
    spec = MatrixSpec(
        captioners=(MatrixEntry("janus", models["janus"]), MatrixEntry("llava", models["llava"])),
        generators=(MatrixEntry("janus", models["janus"]), MatrixEntry("sd", models["sd"])),
        base=base,
        reference=True,
    )
    return root, models, spec


def _run(spec, out, cache, counts):
    return run_matrix(spec, out, output_cache=cache, report=False,
                      executor_factory=lambda adapter, run: CountingExecutor(adapter, counts))


def test_each_caption_and_image_is_computed_once(setup):
    root, models, spec = setup
    counts: Counter = Counter()
    results = _run(spec, root / "m1", root / "cache", counts)

    # Every caption once per captioner, although each captioner serves two generators.
    assert counts[("caption", models["janus"])] == LIMIT
    assert counts[("caption", models["llava"])] == LIMIT
    # Every (caption, generator) image once: 2 captioners x LIMIT + 2 reference descriptions.
    assert counts[("generate", models["janus"])] == 2 * LIMIT + 2
    assert counts[("generate", models["sd"])] == 2 * LIMIT + 2
    assert results.stages["caption"].computed == 2 * LIMIT
    assert results.stages["caption"].shared == 2 * LIMIT  # the second pair of each captioner
    assert results.stages["generate"].computed == 4 * LIMIT + 2 * 2
    assert results.stages["generate"].shared == 0

    assert results.captioners == ["janus", "llava", "reference"]
    assert [c.status for c in results.cells] == ["ok"] * 6
    diagonal = results.cell("janus", "janus")
    assert diagonal.model == models["janus"]  # the diagonal is the model alone: its own loop
    assert results.cell("llava", "sd").model == f"{models['llava']}+{models['sd']}"
    # The derived figures, recomputed by hand from the grid (reference row excluded).
    (d,) = results.derived
    s = {(c.captioner, c.generator): c.score for c in results.cells}
    assert d.model == "janus" and d.own_loop == s[("janus", "janus")]
    assert d.understanding_serves_generation == pytest.approx(s[("janus", "janus")] - s[("llava", "janus")])
    assert d.generation_serves_understanding == pytest.approx(s[("janus", "janus")] - s[("janus", "sd")])

    on_disk = load_matrix(root / "m1" / "matrix.json")
    assert on_disk == results
    assert (root / "m1" / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in (root / "m1" / "matrix.html").read_text()
    for cell in results.cells:
        assert (root / "m1" / cell.run_dir / "results.json").is_file()

    # A fresh matrix directory sharing the cache computes no caption and no image at all.
    counts.clear()
    again = _run(spec, root / "m2", root / "cache", counts)
    assert counts == Counter()
    assert again.stages["caption"].computed == 0 and again.stages["caption"].shared == 4 * LIMIT
    assert again.stages["generate"].computed == 0 and again.stages["generate"].shared == 4 * LIMIT + 4
    assert [c.score for c in again.cells] == [c.score for c in results.cells]
