"""The transformers captioner on a tiny random LLaVA loaded through from_pretrained, plus the factory."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from data_pipeline.captioners.base import CaptionerConfig
from data_pipeline.captioners.errors import CaptionerError
from data_pipeline.captioners.factory import clear_captioner_cache, config_key, get_captioner
from data_pipeline.captioners.transformers_vlm import TransformersCaptioner
from unified_bench.core.hashing import content_hash
from unified_bench.core.hub import resolve_revision
from unified_bench.demo.models import build_demo_vlm

try:
    from .captioner_fixtures import make_images
except ImportError:  # tests/data_pipeline is not a package
    from captioner_fixtures import make_images

PROMPT = "Describe this image in detail."


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    return build_demo_vlm(tmp_path_factory.mktemp("tiny-llava") / "model")


@pytest.fixture(scope="module")
def images():
    imgs = make_images(5)
    imgs[1] = imgs[1].convert("RGBA")  # non-RGB modes are converted, not rejected
    imgs[3] = imgs[3].convert("L")
    return imgs


def _config(model, **kw) -> CaptionerConfig:
    base = {"model": str(model), "prompt": PROMPT, "max_new_tokens": 8, "temperature": 0.0, "batch_size": 4}
    base.update(kw)
    return CaptionerConfig(**base)


def _direct_greedy(model_dir, image, max_new_tokens):
    """Reference: plain transformers, one image, no captioner code."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=[image.convert("RGB")], text=[text], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor, out[0, inputs["input_ids"].shape[1] :].tolist()


def test_batched_equals_one_at_a_time_and_direct_transformers(tiny_llava, images):
    batched = TransformersCaptioner(_config(tiny_llava, batch_size=4)).caption_batch(images)
    single = TransformersCaptioner(_config(tiny_llava, batch_size=1)).caption_batch(images)
    assert len(batched) == len(single) == 5
    assert all(r.error is None and r.text for r in batched)
    # Greedy decoding: identical texts and finish reasons, batch of 4 + 1 vs five batches of 1.
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.finish_reason for r in batched] == [r.finish_reason for r in single]
    # And identical to a direct transformers computation on the same weights.
    processor, tokens = _direct_greedy(tiny_llava, images[0], 8)
    assert batched[0].text == processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()


def test_finish_reason_length_when_token_limit_hit(tiny_llava, images):
    results = TransformersCaptioner(_config(tiny_llava, max_new_tokens=2)).caption_batch(images[:3])
    # Random weights almost never emit EOS in two steps; the direct run confirms it did not here.
    processor, tokens = _direct_greedy(tiny_llava, images[0], 2)
    assert processor.tokenizer.eos_token_id not in tokens
    assert [r.finish_reason for r in results] == ["length"] * 3


def test_finish_reason_stop_cuts_at_eos(tiny_llava, images, tmp_path):
    """Declare the token the model emits at step 3 an EOS (in generation_config.json): it must stop there."""
    _, tokens = _direct_greedy(tiny_llava, images[0], 8)
    eos_step = next(i for i in range(2, 8) if tokens[i] not in tokens[:i])
    model_dir = tmp_path / "stop-model"
    shutil.copytree(tiny_llava, model_dir)
    gen_path = model_dir / "generation_config.json"
    gen = json.loads(gen_path.read_text())
    gen["eos_token_id"] = [gen["eos_token_id"], tokens[eos_step]]
    gen_path.write_text(json.dumps(gen))

    captioner = TransformersCaptioner(_config(model_dir, max_new_tokens=8))
    result = captioner.caption_batch([images[0]])[0]
    assert result.finish_reason == "stop"
    expected = captioner.processor.tokenizer.decode(tokens[:eos_step], skip_special_tokens=True).strip()
    assert result.text == expected


def test_record_pins_revision_prompt_and_decoding(tiny_llava, images):
    captioner = TransformersCaptioner(_config(tiny_llava, max_new_tokens=4))
    record = captioner.record()
    assert record["revision"] == content_hash(tiny_llava)
    assert record["revision"].startswith("sha256:")
    assert record["model"] == str(tiny_llava)
    assert record["prompt_sha256"] == _config(tiny_llava).prompt_sha256
    assert (record["max_new_tokens"], record["temperature"], record["do_sample"]) == (4, 0.0, False)
    assert record["dtype"] == "float32"  # CPU + dtype auto
    assert captioner.caption_batch(images[:1])[0].record == record


def test_content_hash_changes_with_content(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    first = resolve_revision(str(tmp_path))
    (tmp_path / "a.json").write_text("{ }")
    assert resolve_revision(str(tmp_path)) != first
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert resolve_revision("org/some-model", commit) == commit


def test_bad_image_costs_one_error_row_not_the_batch(tiny_llava, images):
    captioner = TransformersCaptioner(_config(tiny_llava, batch_size=4))
    good = captioner.caption_batch(images[:3])
    mixed = captioner.caption_batch([images[0], "not an image", images[1], images[2]])
    assert mixed[1].text is None and mixed[1].finish_reason is None
    assert mixed[1].error.startswith("AttributeError")  # the exception type and message are kept
    assert [mixed[i].text for i in (0, 2, 3)] == [r.text for r in good]


def test_sampling_is_seeded(tiny_llava, images):
    def run(seed):
        cfg = _config(tiny_llava, temperature=1.0, max_new_tokens=8, extra={"seed": seed})
        return [r.text for r in TransformersCaptioner(cfg).caption_batch(images[:2])]

    first, again, other = run(1), run(1), run(2)
    assert first == again
    assert first != other


def test_factory_caches_per_config(tiny_llava):
    clear_captioner_cache()
    cfg = _config(tiny_llava)
    one = get_captioner(cfg)
    assert get_captioner(_config(tiny_llava)) is one  # equal config -> same loaded model
    assert get_captioner(replace(cfg, max_new_tokens=3)) is not one
    assert config_key(cfg) != config_key(replace(cfg, extra={"seed": 1}))
    clear_captioner_cache()


def test_factory_rejects_unknown_backend_and_missing_model(tmp_path):
    with pytest.raises(CaptionerError, match="Unknown captioner backend"):
        get_captioner(CaptionerConfig(backend="bogus", model="x"))  # type: ignore[arg-type]
    with pytest.raises(CaptionerError, match="Could not load captioner model"):
        get_captioner(CaptionerConfig(model=str(tmp_path / "missing-model")))
    with pytest.raises(CaptionerError, match="dtype"):
        get_captioner(CaptionerConfig(model="x", dtype="float8"))
