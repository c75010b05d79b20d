"""A tiny random-weight LLaVA captioner, built offline, for the tests and the batching benchmark.

Why: weights cannot be downloaded in CI, yet the transformers captioner must be exercised through
the same ``from_pretrained`` path a user's hub model takes. This builds a real
``LlavaForConditionalGeneration`` (CLIP vision tower + Llama text model) from a small config
with seeded weights, a byte-level BPE tokenizer trained on a few sentences, a CLIP image
processor and a chat template, and writes them with ``save_pretrained``. Captions are
gibberish but deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_CORPUS = (
    "A red cat sits on a blue mat in the sun.",
    "Two dogs run across the green field near a small lake.",
    "The kitchen has a wooden table, three chairs and a white lamp.",
    "Describe this image in great detail, covering every object and its colour.",
)

_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        padding_side="left", extra_special_tokens={"image_token": "<image>"},
    )


def build_tiny_llava(
    out_dir: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    image_size: int = 32,
    patch_size: int = 8,
    vocab_size: int = 300,
    seed: int = 0,
) -> Path:
    """Write a tiny LLaVA (model + processor) to ``out_dir``; loadable by ``AutoModelForImageTextToText``."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _tokenizer(vocab_size)
    ids = tokenizer.convert_tokens_to_ids
    heads = max(2, hidden_size // 16)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=image_size, patch_size=patch_size, projection_dim=32,
        ).to_dict(),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=2048, bos_token_id=ids("<s>"), eos_token_id=ids("</s>"),
            pad_token_id=ids("<pad>"),
        ).to_dict(),
        image_token_index=ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>")
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=_CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
