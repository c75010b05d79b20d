"""One conformance test for every adapter, each loaded from a tiny real checkpoint via load_model.

Random weights produce garbage text, so text checks are about types, counts and determinism;
image checks are about mode, size, and seed behaviour (same seed -> identical pixels,
different seed -> different pixels).
"""

from __future__ import annotations

import numpy as np
import pytest

from unified_bench.errors import CapabilityError
from unified_bench.models.base import Capability, ModelIdentity
from unified_bench.specs import AnswerSettings, CaptionSettings, GenerationSettings

ADAPTERS = ["janus", "emu3", "vlm", "t2i", "composite", "plugin"]

EXPECTED = {
    "janus": {Capability.CAPTION, Capability.ANSWER, Capability.GENERATE},
    "emu3": {Capability.CAPTION, Capability.ANSWER, Capability.GENERATE},
    "vlm": {Capability.CAPTION, Capability.ANSWER},
    "t2i": {Capability.GENERATE},
    "composite": {Capability.CAPTION, Capability.ANSWER, Capability.GENERATE},
    "plugin": {Capability.CAPTION, Capability.GENERATE},
}

CAPTION = CaptionSettings(prompt="Describe the image.", max_new_tokens=6, temperature=0.7)
ANSWER = AnswerSettings(max_new_tokens=4)
# 32 px is the native size of the tiny Janus/Emu3 generators; the T2I pipeline honours it too.
GEN = GenerationSettings(height=32, width=32, num_inference_steps=2, guidance_scale=5.0)


@pytest.fixture
def adapter(request, loaded):
    name = request.param
    if name == "plugin":
        from unified_bench.models.loader import load_model
        from unified_bench.specs import RuntimeOptions, parse_model_spec

        return load_model(parse_model_spec("py:tests.models.plugin_example:make"), RuntimeOptions("cpu"))
    return loaded(name)


def _pixels(images):
    return [np.asarray(im) for im in images]


@pytest.mark.parametrize("adapter", ADAPTERS, indirect=True)
def test_capabilities_declared_match_behaviour(adapter, request, photos):
    name = request.node.callspec.params["adapter"]
    assert set(adapter.capabilities) == EXPECTED[name]
    calls = {
        Capability.CAPTION: lambda: adapter.caption(photos[:1], CAPTION, [0]),
        Capability.ANSWER: lambda: adapter.answer([photos[:1]], ["What is this?"], ANSWER, [0]),
        Capability.GENERATE: lambda: adapter.generate(["a cat"], GEN, [0]),
    }
    for capability, call in calls.items():
        if capability in adapter.capabilities:
            assert len(call()) == 1
        else:
            with pytest.raises(CapabilityError):
                call()


@pytest.mark.parametrize("adapter", ADAPTERS, indirect=True)
def test_identity_has_resolved_revisions(adapter, request):
    ident = adapter.identity()
    assert isinstance(ident, ModelIdentity)
    assert ident.components
    for comp in ident.components:
        assert comp.revision
        assert comp.architecture and comp.source and comp.role
    name = request.node.callspec.params["adapter"]
    if name != "plugin":
        assert all(c.revision.startswith("sha256:") and len(c.revision) == 7 + 64 for c in ident.components)
    expected_roles = {
        "janus": ["unified"], "emu3": ["unified"], "vlm": ["understanding"], "t2i": ["generation"],
        "composite": ["understanding", "generation"], "plugin": ["plugin"],
    }[name]
    assert [c.role for c in ident.components] == expected_roles


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if Capability.CAPTION in EXPECTED[a]], indirect=True)
def test_caption_batch_counts_and_seed_determinism(adapter, photos):
    first = adapter.caption(photos, CAPTION, [7, 8])
    again = adapter.caption(photos, CAPTION, [7, 8])
    assert isinstance(first, list) and len(first) == len(photos)
    assert all(isinstance(t, str) for t in first)
    assert first == again
    assert adapter.caption([], CAPTION, []) == []


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if Capability.ANSWER in EXPECTED[a]], indirect=True)
def test_answer_multi_image_questions(adapter, photos):
    out = adapter.answer([photos[:1], photos], ["What is shown?", "Which is brighter?"], ANSWER, [3, 4])
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert out == adapter.answer([photos[:1], photos], ["What is shown?", "Which is brighter?"], ANSWER, [3, 4])


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if Capability.GENERATE in EXPECTED[a]], indirect=True)
def test_generate_size_and_seeds(adapter):
    prompts = ["a red apple on a table", "a dog in the park"]
    first = adapter.generate(prompts, GEN, [11, 12])
    assert len(first) == 2
    for im in first:
        assert im.mode == "RGB"
        assert im.size == (32, 32)
    again = adapter.generate(prompts, GEN, [11, 12])
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(first), _pixels(again), strict=True))
    other = adapter.generate(prompts, GEN, [13, 14])
    assert not np.array_equal(_pixels(first)[0], _pixels(other)[0])
    assert adapter.generate([], GEN, []) == []
