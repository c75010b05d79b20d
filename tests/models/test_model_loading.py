"""Spec resolution and dispatch: hub/offline errors, content hashes, composites, plugins, notes."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from unified_bench.core.hashing import content_hash
from unified_bench.errors import CapabilityError, SpecError
from unified_bench.models.base import Capability, check_capabilities
from unified_bench.models.hub import resolve_model
from unified_bench.models.loader import ARCHITECTURES, architecture_key, load_model
from unified_bench.registry import import_attr
from unified_bench.specs import GenerationSettings, RuntimeOptions, parse_model_spec

CPU = RuntimeOptions(device="cpu", dtype="fp32")


def test_every_architecture_entry_resolves():
    from unified_bench.models.base import ModelAdapter

    for name in ARCHITECTURES:
        assert issubclass(import_attr(ARCHITECTURES.target(name)), ModelAdapter)


def test_dispatch_reads_the_checkpoint(demo_dirs):
    assert architecture_key(demo_dirs["janus"]) == "janus"
    assert architecture_key(demo_dirs["emu3"]) == "emu3"
    assert architecture_key(demo_dirs["vlm"]) == "image-text-to-text"
    assert architecture_key(demo_dirs["t2i"]) == "diffusers"


def test_unknown_model_type_lists_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not_a_real_arch"}))
    with pytest.raises(SpecError) as err:
        load_model(parse_model_spec(str(tmp_path)), CPU)
    assert "not_a_real_arch" in err.value.problem
    assert "janus" in err.value.fix and "emu3" in err.value.fix and "py:" in err.value.fix


def test_directory_without_config_is_spec_error(tmp_path):
    with pytest.raises(SpecError, match="config.json"):
        load_model(parse_model_spec(str(tmp_path)), CPU)


def test_hf_offline_without_cache_gives_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = parse_model_spec("hf:unified-bench-tests/definitely-not-cached@main")
    with pytest.raises(SpecError) as err:
        load_model(spec, CPU)
    assert "not in the local Hugging Face cache" in err.value.problem
    assert "huggingface-cli download unified-bench-tests/definitely-not-cached" in err.value.fix


def test_hf_offline_uses_cached_snapshot_and_records_commit(tmp_path, monkeypatch, demo_dirs):
    """A hub-cache layout (refs/main -> commit, snapshots/<commit>/) resolves to that commit."""
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "models--org--tiny-vlm"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    shutil.copytree(demo_dirs["vlm"], repo_dir / "snapshots" / commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    resolved = resolve_model(parse_model_spec("hf:org/tiny-vlm"))
    assert resolved.revision == commit and resolved.source == "org/tiny-vlm"
    adapter = load_model(parse_model_spec("hf:org/tiny-vlm"), CPU)
    comp = adapter.identity().components[0]
    assert (comp.source, comp.revision, comp.architecture) == (
        "org/tiny-vlm", commit, "LlavaForConditionalGeneration")


def test_content_hash_is_location_independent_and_content_sensitive(tmp_path, demo_dirs):
    copy = tmp_path / "copy"
    shutil.copytree(demo_dirs["t2i"], copy)
    assert content_hash(copy) == content_hash(demo_dirs["t2i"])
    (copy / "model_index.json").write_text((copy / "model_index.json").read_text() + " ")
    assert content_hash(copy) != content_hash(demo_dirs["t2i"])


def test_diffusers_alone_only_generates(loaded):
    adapter = loaded("t2i")
    assert adapter.capabilities == frozenset({Capability.GENERATE})
    with pytest.raises(CapabilityError) as err:
        check_capabilities(adapter, frozenset({Capability.CAPTION, Capability.GENERATE}), "unified")
    assert "caption" in err.value.problem and "+" in err.value.fix


def test_composite_roles_and_routing(loaded, demo_dirs, photos):
    composite = loaded("composite")
    ident = composite.identity()
    assert ident.spec == f"{demo_dirs['vlm']}+{demo_dirs['t2i']}"
    assert [(c.role, c.architecture) for c in ident.components] == [
        ("understanding", "LlavaForConditionalGeneration"),
        ("generation", "StableDiffusionPipeline"),
    ]
    gen = GenerationSettings(height=32, width=32, num_inference_steps=2)
    direct = loaded("t2i").generate(["a boat"], gen, [5])
    via = composite.generate(["a boat"], gen, [5])
    assert np.array_equal(np.asarray(direct[0]), np.asarray(via[0]))


def test_composite_in_wrong_order_is_spec_error(demo_dirs):
    with pytest.raises(SpecError, match="first half"):
        load_model(parse_model_spec(f"{demo_dirs['t2i']}+{demo_dirs['vlm']}"), CPU)


def test_plugin_factories():
    adapter = load_model(parse_model_spec("py:tests.models.plugin_example:make"), CPU)
    assert adapter.identity().components[0].role == "plugin"
    two_arg = load_model(parse_model_spec("py:tests.models.plugin_example:make_with_target"), CPU)
    assert two_arg.capabilities == adapter.capabilities
    with pytest.raises(SpecError, match="not a ModelAdapter"):
        load_model(parse_model_spec("py:tests.models.plugin_example:make_bad"), CPU)
    with pytest.raises(SpecError, match="no attribute"):
        load_model(parse_model_spec("py:tests.models.plugin_example:nope"), CPU)


def test_entry_point_scheme(monkeypatch):
    from importlib import metadata

    from unified_bench.specs import ADAPTER_ENTRY_POINT_GROUP

    ep = metadata.EntryPoint("flatcolour", "tests.models.plugin_example:make_with_target",
                             ADAPTER_ENTRY_POINT_GROUP)
    real = metadata.entry_points

    def fake_entry_points(**kwargs):
        if kwargs.get("group") == ADAPTER_ENTRY_POINT_GROUP:
            return metadata.EntryPoints([ep])
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    spec = parse_model_spec("flatcolour:whatever/target")
    assert spec.scheme == "flatcolour"
    adapter = load_model(spec, CPU)
    assert adapter.generate(["x"], GenerationSettings(height=8, width=8), [1])[0].size == (8, 8)


def test_janus_notes_ignored_settings(loaded):
    janus = loaded("janus")
    notes = janus.generation_notes(GenerationSettings(height=1024, width=1024))
    assert set(notes) == {"height", "width", "num_inference_steps"}
    images = janus.generate(["a cat"], GenerationSettings(height=64, width=48, num_inference_steps=2), [0])
    assert images[0].size == (janus.image_size, janus.image_size) == (32, 32)


def test_emu3_honours_height_and_width(loaded):
    emu3 = loaded("emu3")
    settings = GenerationSettings(height=16, width=48, guidance_scale=1.0)
    assert "height" not in emu3.generation_notes(settings)
    assert emu3.generate(["a wide banner"], settings, [0])[0].size == (48, 16)


def test_diffusers_honours_size_and_logs_truncation_once(loaded, caplog):
    t2i = loaded("t2i")
    settings = GenerationSettings(height=32, width=64, num_inference_steps=2, extra=(("eta", 0.0),))
    assert t2i.generation_notes(settings) == {}
    long_prompt = "a very long prompt " * 10
    with caplog.at_level(logging.WARNING):
        first = t2i.generate([long_prompt], settings, [0])
        t2i.generate([long_prompt], settings, [0])
    assert first[0].size == (64, 32)
    truncation = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(truncation) == 1


def _fake_hub_cache(tmp_path, demo_dir, repo_dir_name: str, commit: str) -> None:
    repo_dir = tmp_path / repo_dir_name
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    shutil.copytree(demo_dir, repo_dir / "snapshots" / commit)


def test_hub_unreachable_falls_back_to_cache_or_explains(tmp_path, monkeypatch, demo_dirs):
    """Online mode with the network blocked (tests allow loopback only)."""
    from huggingface_hub import constants

    commit = "fedcba9876543210fedcba9876543210fedcba98"
    _fake_hub_cache(tmp_path, demo_dirs["t2i"], "models--org--tiny-t2i", commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_model(parse_model_spec("hf:org/tiny-t2i")).revision == commit
    with pytest.raises(SpecError) as err:
        resolve_model(parse_model_spec("hf:org/not-cached"))
    assert "no copy is cached" in err.value.problem


def test_diffusers_notes_token_sampling_settings(loaded):
    t2i = loaded("t2i")
    notes = t2i.generation_notes(GenerationSettings(height=32, width=32, temperature=0.5, top_k=10))
    assert set(notes) == {"temperature", "top_k"}


def test_transformers_weights_load_on_the_device_in_the_requested_dtype(demo_dirs, monkeypatch):
    """device_map + dtype go to from_pretrained (no full-precision host copy first); the real loader runs."""
    import torch
    from transformers import AutoModelForImageTextToText

    seen = {}
    real = AutoModelForImageTextToText.from_pretrained.__func__

    def recording(cls, path, **kwargs):
        seen.update(kwargs)
        return real(cls, path, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", classmethod(recording))
    vlm = load_model(parse_model_spec(str(demo_dirs["vlm"])), RuntimeOptions(device="cpu", dtype="bf16"))
    assert seen["device_map"] == "cpu" and seen["dtype"] == torch.bfloat16
    assert {p.dtype for p in vlm.model.parameters()} == {torch.bfloat16}


def test_close_drops_weights_and_is_idempotent(demo_dirs):
    for name in ("vlm", "t2i"):
        adapter = load_model(parse_model_spec(str(demo_dirs[name])), CPU)
        adapter.close()
        adapter.close()
        assert not hasattr(adapter, "model") and not hasattr(adapter, "pipe")
