"""Decoding as the protocol names it, and outputs that depend only on each item's own seed.

- A checkpoint's ``generation_config.json`` (Qwen2.5-VL ships ``top_k=1, top_p=0.001,
  repetition_penalty=1.05``) cannot change sampled captions.
- Captions and images are identical at batch size 1 and 4, for every transformers backend,
  calling the adapters' batch methods directly.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from unified_bench.models.loader import load_model
from unified_bench.specs import CaptionSettings, GenerationSettings, RuntimeOptions, parse_model_spec

CPU = RuntimeOptions(device="cpu", dtype="fp32")
SAMPLED = CaptionSettings(prompt="Describe the image.", max_new_tokens=8, temperature=0.7)
GEN = GenerationSettings(height=32, width=32, num_inference_steps=1, guidance_scale=5.0)
SEEDS = [101, 202, 303, 404]


@pytest.fixture(scope="module")
def four_photos():
    from PIL import Image
    from skimage import data

    return [Image.fromarray(a).resize((40, 36)) for a in (data.astronaut(), data.coffee(), data.chelsea(),
                                                           data.rocket())]


def test_checkpoint_generation_config_cannot_change_sampled_captions(demo_dirs, tmp_path, four_photos):
    greedy_ish = tmp_path / "qwen-like"
    shutil.copytree(demo_dirs["vlm"], greedy_ish)
    config_path = greedy_ish / "generation_config.json"
    config = json.loads(config_path.read_text())
    config.update({"do_sample": True, "top_k": 1, "top_p": 0.001, "repetition_penalty": 1.05,
                   "temperature": 0.1, "no_repeat_ngram_size": 2, "min_new_tokens": 3})
    config_path.write_text(json.dumps(config))
    plain = load_model(parse_model_spec(str(demo_dirs["vlm"])), CPU)
    shipped = load_model(parse_model_spec(str(greedy_ish)), CPU)
    assert shipped.checkpoint_generation_defaults["top_k"] == 1
    ours = plain.caption(four_photos, SAMPLED, SEEDS)
    theirs = shipped.caption(four_photos, SAMPLED, SEEDS)
    assert theirs == ours
    # Sampling really happens: top_k=1 would have made every seed of one image agree.
    one_image = plain.caption([four_photos[0]] * 4, SAMPLED, SEEDS)
    assert len(set(one_image)) > 1


@pytest.mark.parametrize("name", ["vlm", "janus", "emu3"])
def test_sampled_captions_do_not_depend_on_batch_size(loaded, name, four_photos):
    adapter = loaded(name)
    batched = adapter.caption(four_photos, SAMPLED, SEEDS)
    alone = [adapter.caption([im], SAMPLED, [seed])[0] for im, seed in zip(four_photos, SEEDS, strict=True)]
    assert batched == alone
    # ... nor on the neighbours: the same item in another batch gives the same text.
    shuffled = adapter.caption(four_photos[::-1], SAMPLED, SEEDS[::-1])
    assert shuffled[::-1] == batched


@pytest.mark.parametrize("name", ["janus", "emu3"])
@pytest.mark.parametrize("guidance", [5.0, 1.0])
def test_generated_images_do_not_depend_on_batch_size(loaded, name, guidance):
    from dataclasses import replace

    adapter = loaded(name)
    settings = replace(GEN, guidance_scale=guidance)
    prompts = ["a red apple", "a dog running in the park under the rain", "a car", "sky"]
    batched = adapter.generate(prompts, settings, SEEDS)
    alone = [adapter.generate([p], settings, [s])[0] for p, s in zip(prompts, SEEDS, strict=True)]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(batched, alone, strict=True))
    assert not np.array_equal(np.asarray(batched[0]), np.asarray(adapter.generate(prompts[:1], settings, [7])[0]))


def test_negative_temperature_and_guidance_are_refused_when_settings_are_built():
    from unified_bench.errors import SpecError
    from unified_bench.specs import AnswerSettings

    with pytest.raises(SpecError, match="negative") as err:
        CaptionSettings(temperature=-1)
    assert "greedy" in err.value.fix
    with pytest.raises(SpecError):
        AnswerSettings(temperature=-0.5)
    with pytest.raises(SpecError) as err:
        GenerationSettings(guidance_scale=-2.0)
    assert "1.0 disables" in err.value.fix
    with pytest.raises(SpecError):
        GenerationSettings(temperature=-1.0)


def test_effective_decoding_is_recorded_in_full():
    decoding = CaptionSettings().to_dict()["decoding"]
    assert decoding | {"seeding": None, "checkpoint_generation_config": None} == {
        "max_new_tokens": 512, "do_sample": True, "temperature": 0.7, "top_k": 0, "top_p": 1.0,
        "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "num_beams": 1,
        "seeding": None, "checkpoint_generation_config": None,
    }
    assert decoding["seeding"] == "per-item"
    # Any decoding change changes the dict the cache keys are built from.
    assert CaptionSettings(top_p=0.9).to_dict() != CaptionSettings().to_dict()


def test_janus_guidance_one_disables_cfg_and_is_accepted(loaded):
    janus = loaded("janus")
    one = GenerationSettings(height=32, width=32, guidance_scale=1.0)
    janus.validate_settings("generate", one)
    images = janus.generate(["a cat"], one, [3])
    assert images[0].size == (32, 32)
    # The tiny random model's conditional and unconditional logits differ by ~1e-2, so only a
    # large scale shows that guidance is applied at all.
    strong = janus.generate(["a cat"], GenerationSettings(height=32, width=32, guidance_scale=1000.0), [3])
    assert not np.array_equal(np.asarray(images[0]), np.asarray(strong[0]))


def test_guided_sampler_combines_conditional_and_unconditional_rows():
    import torch

    from unified_bench.models.common import PerItemSampler

    cond = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    uncond = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    out = PerItemSampler([0, 1], temperature=0.0, guidance_scale=2.0)(None, torch.cat([cond, uncond]))
    # u + 2 (c - u) = [[0, 2, -3], [4, 0, 0]] -> tokens 1 and 0
    assert out.shape == (2, 3)
    assert out.argmax(-1).tolist() == [1, 0]
    assert torch.isinf(out).sum() == 4
    kept = PerItemSampler([0, 1], temperature=0.0, guidance_scale=1.0)(None, torch.cat([cond, uncond]))
    assert kept.argmax(-1).tolist() == cond.argmax(-1).tolist()


def test_per_item_sampler_draws_from_the_filtered_distribution():
    import torch

    from unified_bench.models.common import PerItemSampler

    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    n = 4000

    def freq(**kw):
        sampler = PerItemSampler([0], **kw)
        picks = [int(sampler(None, logits).argmax()) for _ in range(n)]
        return np.bincount(picks, minlength=4) / n

    plain = freq(temperature=1.0)
    assert np.allclose(plain, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    top2 = freq(temperature=1.0, top_k=2)  # renormalised over the two most likely tokens
    assert top2[:2].sum() == 0 and np.allclose(top2[2:], [3 / 7, 4 / 7], atol=0.03)
    nucleus = freq(temperature=1.0, top_p=0.65)  # 0.4 + 0.3 reach 0.65
    assert nucleus[:2].sum() == 0 and np.allclose(nucleus[2:], [3 / 7, 4 / 7], atol=0.03)
    greedy = freq(temperature=0.0)
    assert greedy.tolist() == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("name", ["vlm", "janus", "emu3"])
def test_sampled_answers_do_not_depend_on_left_padding(loaded, name, four_photos):
    """Questions of different lengths are left-padded in a batch; each answer still depends only on
    its own question, images and seed."""
    from unified_bench.specs import AnswerSettings

    adapter = loaded(name)
    questions = ["What?", "What colour is the sky in this picture, and why?", "Which is brighter?",
                 "Describe the image in detail please."]
    settings = AnswerSettings(max_new_tokens=6, temperature=0.7)
    batched = adapter.answer([[im] for im in four_photos], questions, settings, SEEDS)
    alone = [adapter.answer([[im]], [q], settings, [s])[0]
             for im, q, s in zip(four_photos, questions, SEEDS, strict=True)]
    assert batched == alone
