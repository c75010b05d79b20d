"""The understanding prompt as the protocol sends it: text first, then the image.

Rendered through chat templates like the real releases' (the converted Janus-Pro template with its
default system prompt, LLaVA-1.5's converted template, a Qwen2-VL-style template), not only the
demo's hand-written one. Where a template forces the image first, ``prompt_layout()`` says so.
"""

from __future__ import annotations

import shutil

from unified_bench.models.common import chat_content, render_chat
from unified_bench.models.loader import load_model
from unified_bench.specs import DEFAULT_CAPTION_PROMPT, RuntimeOptions, parse_model_spec

CPU = RuntimeOptions(device="cpu", dtype="fp32")

#: llava-hf/llava-1.5-*-hf: every image is rendered before the text, whatever the message order.
LLAVA_15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

#: Qwen2-VL-Instruct style: a default system turn, images rendered where they appear in the content.
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant."
    "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _with_template(src, dst, template):
    """A copy of a demo checkpoint whose processor ships ``template``."""
    from transformers import AutoProcessor

    shutil.copytree(src, dst)
    for old in dst.glob("chat_template.*"):
        old.unlink()
    processor = AutoProcessor.from_pretrained(dst)
    processor.chat_template = template
    processor.save_pretrained(dst)
    return dst


def test_protocol_turn_is_text_then_image():
    assert [c["type"] for c in chat_content(1, "Describe.")] == ["text", "image"]


def test_janus_pro_template_renders_text_then_image_after_system_prompt(loaded, photos):
    janus = loaded("janus")
    prompt = render_chat(janus.processor, 1, DEFAULT_CAPTION_PROMPT, janus.chat_fallback)
    assert prompt == f"<|User|>: {DEFAULT_CAPTION_PROMPT}\n<image_placeholder>\n\n<|Assistant|>:"
    # The converted releases prepend the default system prompt to understanding prompts.
    ids = janus.processor(text=[prompt], images=photos[:1], return_tensors="pt")["input_ids"][0]
    text = janus.processor.tokenizer.decode(ids)
    assert text.index("You are a helpful language and vision assistant") < text.index("<|User|>")
    assert janus.prompt_layout()["order"] == "text-image"


def test_qwen2_vl_style_template_keeps_text_first(demo_dirs, tmp_path):
    vlm = load_model(parse_model_spec(str(_with_template(demo_dirs["vlm"], tmp_path / "q", QWEN2_VL_TEMPLATE))), CPU)
    prompt = render_chat(vlm.processor, 1, "Describe the image.", vlm.chat_fallback)
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Describe the image.<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"
    )
    assert vlm.prompt_layout()["order"] == "text-image"


def test_llava_template_forcing_image_first_is_reported(demo_dirs, tmp_path, photos):
    vlm = load_model(parse_model_spec(str(_with_template(demo_dirs["vlm"], tmp_path / "l", LLAVA_15_TEMPLATE))), CPU)
    prompt = render_chat(vlm.processor, 1, "Describe the image.", vlm.chat_fallback)
    assert prompt == "USER: <image>\nDescribe the image. ASSISTANT:"
    layout = vlm.prompt_layout()
    assert layout["order"] == "image-text" and "template" in layout["reason"]
    assert len(vlm.caption(photos[:1], _short(), [0])) == 1


def test_demo_models_record_their_layout(loaded):
    for name in ("janus", "emu3", "vlm"):
        assert loaded(name).prompt_layout() == {
            "order": "text-image", "reason": "protocol order, rendered by the chat template"
        }
    assert loaded("composite").prompt_layout()["order"] == "text-image"
    assert loaded("t2i").prompt_layout() is None


def test_fallback_prompt_without_template_is_text_first(demo_dirs, tmp_path):
    vlm = load_model(parse_model_spec(str(_with_template(demo_dirs["vlm"], tmp_path / "n", None))), CPU)
    assert render_chat(vlm.processor, 1, "Describe.", vlm.chat_fallback).startswith("USER: Describe.\n<image>")
    assert vlm.prompt_layout()["order"] == "text-image"


def _short():
    from unified_bench.specs import CaptionSettings

    return CaptionSettings(prompt="Describe the image.", max_new_tokens=3)

