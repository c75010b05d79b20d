"""Emu3 as released: the Chat and Gen checkpoints each do only their own job.

Tiny Emu3 checkpoints saved under the released names load through the same path an ``hf:`` spec
takes; the composite ``Emu3-Chat-hf+Emu3-Gen-hf`` is the unified pairing.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from unified_bench.demo.models import build_demo_emu3
from unified_bench.errors import CapabilityError, SpecError
from unified_bench.models.base import Capability, check_capabilities
from unified_bench.models.emu3 import emu3_variant
from unified_bench.models.loader import load_model
from unified_bench.specs import CaptionSettings, GenerationSettings, RuntimeOptions, parse_model_spec

CPU = RuntimeOptions(device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("emu3-released")
    return {name: build_demo_emu3(root / f"Emu3-{name}-hf") for name in ("Chat", "Gen")}


def test_variants_are_recognised_by_name_then_context():
    def cfg(positions):
        return SimpleNamespace(max_position_embeddings=positions)

    assert emu3_variant("BAAI/Emu3-Gen-hf", cfg(512)) == "gen"
    assert emu3_variant("/models/emu3-chat-hf/", cfg(512)) == "chat"
    assert emu3_variant("/ckpt/my-emu3", cfg(9216)) == "gen"
    assert emu3_variant("/ckpt/my-emu3", cfg(131072)) == "chat"
    assert emu3_variant("/ckpt/my-emu3", cfg(512)) == "unified"


def test_gen_checkpoint_cannot_caption(released, photos):
    gen = load_model(parse_model_spec(str(released["Gen"])), CPU)
    assert gen.capabilities == frozenset({Capability.GENERATE})
    with pytest.raises(CapabilityError):
        check_capabilities(gen, frozenset({Capability.CAPTION, Capability.GENERATE}), "unified")
    assert gen.prompt_layout() is None


def test_chat_checkpoint_cannot_generate(released):
    chat = load_model(parse_model_spec(str(released["Chat"])), CPU)
    assert chat.capabilities == frozenset({Capability.CAPTION, Capability.ANSWER})
    with pytest.raises(CapabilityError):
        check_capabilities(chat, frozenset({Capability.CAPTION, Capability.GENERATE}), "unified")


def test_chat_plus_gen_composite_is_the_unified_model(released, photos):
    spec = f"{released['Chat']}+{released['Gen']}"
    pair = load_model(parse_model_spec(spec), CPU)
    check_capabilities(pair, frozenset({Capability.CAPTION, Capability.GENERATE}), "unified")
    roles = [(c.role, c.source.rsplit("/", 1)[-1]) for c in pair.identity().components]
    assert roles == [("understanding", "Emu3-Chat-hf"), ("generation", "Emu3-Gen-hf")]
    caption = pair.caption(photos[:1], CaptionSettings(prompt="Describe.", max_new_tokens=3), [0])
    image = pair.generate(["a cat"], GenerationSettings(height=32, width=32, guidance_scale=1.0), [0])
    assert len(caption) == 1 and image[0].size == (32, 32)
    assert pair.prompt_layout()["order"] == "text-image"


def test_sizes_beyond_the_context_are_refused_before_work(released):
    gen = load_model(parse_model_spec(str(released["Gen"])), CPU)
    protocol = GenerationSettings()  # 1024x1024: a 128 x 129 token grid
    with pytest.raises(SpecError) as err:
        gen.validate_settings("generate", protocol)
    assert "16512 image tokens" in err.value.problem and "512-position context" in err.value.problem
    h, w = gen.native_generation_size()
    assert f"--height {h} --width {w}" in err.value.fix
    # The native size is accepted and fits; the composite routes the check to its generator.
    gen.validate_settings("generate", GenerationSettings(height=h, width=w))
    pair = load_model(parse_model_spec(f"{released['Chat']}+{released['Gen']}"), CPU)
    with pytest.raises(SpecError):
        pair.validate_settings("generate", protocol)
    pair.validate_settings("caption", CaptionSettings())


def test_native_size_is_the_processors_area_when_it_fits(loaded, monkeypatch):
    emu3 = loaded("emu3")
    # Real Emu3-Gen: image_area 518400 -> 720x720 (90 x 91 tokens within 9216 positions).
    monkeypatch.setattr(emu3.processor, "image_area", 518400, raising=False)
    monkeypatch.setattr(emu3.model.config.get_text_config(), "max_position_embeddings", 9216)
    assert emu3.native_generation_size() == (720, 720)
    emu3.validate_settings("generate", GenerationSettings(height=720, width=720))
    notes = emu3.generation_notes(GenerationSettings(height=720, width=720))
    assert notes["top_k"].startswith("2048")
