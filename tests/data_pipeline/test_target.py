"""Target-count mode: stop issuing shards once enough samples are accepted; resume with a larger
target continues where it stopped (the target is not part of the recipe fingerprint)."""

from __future__ import annotations

import json

from data_pipeline.executor import ClusterOptions, run_build
from data_pipeline.recipe import recipe_from_dict
from data_pipeline.validate import validate_dir
from tests.data_pipeline.conftest import FIXTURE_IMAGES


def _recipe(target, tmp_path):
    return recipe_from_dict({"sources": [{"type": "folder", "path": str(FIXTURE_IMAGES)}],
                             "sharding": {"samples_per_shard": 2}, "image": {"size": 32},
                             "captioner": None, "target_accepted": target}, base_dir=tmp_path)


def test_target_stops_issuing_then_resume_continues(tmp_path, dask_client):
    out = tmp_path / "out"
    opts = ClusterOptions(max_in_flight=1)
    s = run_build(_recipe(3, tmp_path), out, opts, client=dask_client)
    assert s.n_planned_shards == 4 and s.n_shards == 2 and s.n_accepted >= 3
    assert not (out / "00002_stats.json").exists() and validate_dir(out) == []
    s2 = run_build(_recipe(None, tmp_path), out, opts, client=dask_client)
    assert s2.resumed and s2.skipped_shards == 2 and s2.n_shards == 4 and s2.n_inputs == 8
    assert s2.n_accepted == 7  # cat.jpg == chelsea.jpg
    assert json.loads((out / "manifest.json").read_text())["n_shards"] == 4 and validate_dir(out) == []
