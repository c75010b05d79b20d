"""Recipes: the shipped ones validate; bad input names the field and the fix; CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.captioners.base import CaptionerConfig
from data_pipeline.cli import main
from data_pipeline.errors import RecipeError
from data_pipeline.recipe import load_recipe, recipe_from_dict

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_shipped_recipes_validate():
    full = load_recipe(RECIPES / "long-context-700k.yaml")
    assert full.target_accepted == 700_000
    assert isinstance(full.captioner, CaptionerConfig) and full.captioner.backend == "openai"
    assert full.captioner.endpoint.endswith("/v1") and full.qc.min_words == 250
    assert full.sources[0].type == "parquet"
    demo = load_recipe(RECIPES / "local-demo.yaml")
    assert demo.captioner is None and Path(demo.resolve_path(demo.sources[0].path)).is_dir()


def _base(**over):
    data = {"sources": [{"type": "folder", "path": "."}]}
    data.update(over)
    return data


@pytest.mark.parametrize("data, field", [
    (_base(image={"size": -1}), "image.size"),
    (_base(image={"resize_mode": "stretch"}), "image.resize_mode"),
    (_base(sources=[]), "sources"),
    (_base(sources=[{"type": "ftp", "path": "x"}]), "sources.0"),
    (_base(sharding={"samples_per_shard": 0}), "sharding.samples_per_shard"),
    (_base(filters={"near_dup_distance": 99}), "filters.near_dup_distance"),
    (_base(fetch={"read_timout_s": 1}), "fetch.read_timout_s"),
])
def test_bad_fields_are_named(data, field):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(data)
    assert f"'{field}" in str(info.value) and "fix:" in str(info.value)


def test_captioner_typo_suggests_the_right_field():
    with pytest.raises(RecipeError, match="Did you mean 'batch_size'"):
        recipe_from_dict(_base(captioner={"backend": "openai", "model": "m", "batchsize": 4}))


def test_captioner_and_qc_become_the_shared_dataclasses():
    r = recipe_from_dict(_base(captioner={"backend": "openai", "model": "m", "batch_size": 4},
                               qc={"min_words": 10}, target_accepted=5))
    assert r.captioner == CaptionerConfig(backend="openai", model="m", batch_size=4)
    assert r.qc.min_words == 10 and r.target_accepted == 5
    assert r.fingerprint() == recipe_from_dict(_base(captioner={"backend": "openai", "model": "m", "batch_size": 4},
                                                     qc={"min_words": 10}, target_accepted=50)).fingerprint()


def test_cli_exit_code_2_on_bad_recipe(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: folder\n    path: .\nimage:\n  size: zero\n")
    assert main(["build", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "image.size" in err and "fix:" in err
    assert main(["build", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "broken.yaml").write_text("sources: [unclosed\n")
    assert main(["build", str(tmp_path / "broken.yaml")]) == 2
    assert main(["inspect", str(tmp_path)]) == 2
    assert main(["validate", str(tmp_path)]) == 2


def test_alignment_threshold_without_a_model_fails_at_load(tmp_path):
    from data_pipeline.errors import RecipeError
    from data_pipeline.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("sources: [{type: folder, path: .}]\nqc: {min_alignment: 0.2}\n")
    with pytest.raises(RecipeError, match="alignment_model"):
        load_recipe(path)
