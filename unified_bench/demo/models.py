"""Tiny random-weight models of the real architectures, for the offline demo and the tests.

Why: weights cannot be downloaded in CI, yet the loading code must be exercised exactly as a
user's ``hf:`` model exercises it. Each builder creates a real architecture (Janus, Emu3, LLaVA,
Stable Diffusion) from a small config with seeded random weights, builds its tokenizer/processor
offline, and writes everything with ``save_pretrained`` into ``out_dir``. Loading the directory
back goes through ``from_pretrained`` like any hub checkpoint. Outputs are garbage (random
weights) but deterministic, and every builder runs in about a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unified_bench.demo.encoders import DEMO_IMAGE_SIZE

#: Text the tiny byte-level BPE tokenizers are trained on (any few sentences will do).
_CORPUS = (
    "A photo of a cat sitting on a red sofa next to a window.",
    "A dog running under the rain in a green park.",
    "Describe the image. The picture shows a blue car on a street with tall buildings.",
    "Question: what colour is the sky? Answer: the sky is blue and there are white clouds.",
    "An astronaut riding a horse on the moon, digital art, highly detailed.",
)

SEED = 0


def _byte_bpe(special_tokens: list[str], vocab_size: int = 300, **named_tokens: Any) -> Any:
    """Train a byte-level BPE on ``_CORPUS`` (milliseconds) and wrap it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left", **named_tokens)
    return tokenizer


def _seed() -> None:
    import torch

    torch.manual_seed(SEED)


def _ensure(out_dir: str | Path) -> Path:
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------- Janus

#: The chat template of the converted Janus-Pro checkpoints (transformers' conversion script),
#: written out here so the demo renders prompts exactly like deepseek-community/Janus-Pro-*: it
#: honours the message order (text first, then the image, as the protocol sends them).
JANUS_PRO_CHAT_TEMPLATE = (
    "{%set seps=['\n\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}"
    "{%set i=0%}"
    "{%for message in messages%}"
    "{%if message['role']|lower=='user'%}"
    "<|User|>: "
    "{%elif message['role']|lower=='assistant'%}"
    "<|Assistant|>:{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' "
    "and message['content'][0]['text']=='')%} {%endif%}"
    "{%else%}"
    "{{message['role'].capitalize()}}: "
    "{%endif%}"
    "{%for content in message['content']%}"
    "{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\n'}}{%endif%}"
    "<image_placeholder>"
    "{%if not loop.last%}{{'\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}"
    "{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}"
    "{{' '+text}}"
    "{%else%}"
    "{{text}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}"
    "{{seps[0]}}"
    "{%else%}"
    "{{seps[1]}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)


def build_demo_janus(out_dir: str | Path) -> Path:
    """Tiny ``JanusForConditionalGeneration`` (captions and generates 32x32 images).

    The processor is set up like the converted Janus-Pro releases: their chat template and the
    default system prompt prepended to understanding prompts."""
    from transformers import (
        GenerationConfig,
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        LlamaConfig,
    )

    path = _ensure(out_dir)
    _seed()
    specials = ["<|begin_of_sentence|>", "<|end_of_sentence|>", "<pad>", "<image_placeholder>",
                "<begin_of_image>", "<end_of_image>", "<|User|>", "<|Assistant|>"]
    tokenizer = _byte_bpe(
        specials,
        bos_token="<|begin_of_sentence|>",
        eos_token="<|end_of_sentence|>",
        pad_token="<pad>",
        extra_special_tokens={
            "image_token": "<image_placeholder>",
            "boi_token": "<begin_of_image>",
            "eoi_token": "<end_of_image>",
        },
    )
    hidden = 32
    patch = 8
    num_image_tokens = (DEMO_IMAGE_SIZE // patch) ** 2
    ids = tokenizer.convert_tokens_to_ids
    config = JanusConfig(
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            bos_token_id=ids("<|begin_of_sentence|>"), eos_token_id=ids("<|end_of_sentence|>"),
            pad_token_id=ids("<pad>"),
        ).to_dict(),
        vision_config={
            "hidden_size": hidden, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": DEMO_IMAGE_SIZE, "patch_size": patch, "projection_dim": hidden, "depth": 2,
            "num_image_tokens": num_image_tokens, "mlp_ratio": 2.0,
        },
        vq_config={
            "embed_dim": 8, "num_embeddings": 64, "latent_channels": 16, "base_channels": 32,
            "channel_multiplier": [1, 1, 1, 1], "num_res_blocks": 1, "projection_dim": hidden,
            "image_token_embed_dim": hidden, "num_hidden_layers": 1,
        },
        image_token_id=ids("<image_placeholder>"),
    )
    model = JanusForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids("<|begin_of_sentence|>"),
        eos_token_id=ids("<|end_of_sentence|>"),
        pad_token_id=ids("<pad>"),
        guidance_scale=5.0,
        generation_kwargs={"boi_token_id": ids("<begin_of_image>")},
    )
    image_processor = JanusImageProcessor(size={"height": DEMO_IMAGE_SIZE, "width": DEMO_IMAGE_SIZE})
    processor = JanusProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=JANUS_PRO_CHAT_TEMPLATE,
        num_image_tokens=num_image_tokens, use_default_system_prompt=True,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# ---------------------------------------------------------------------------------------- Emu3

_EMU3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %} "
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_demo_emu3(out_dir: str | Path) -> Path:
    """Tiny ``Emu3ForConditionalGeneration`` (captions and generates 32x32 images)."""
    from transformers import (
        Emu3Config,
        Emu3ForConditionalGeneration,
        Emu3ImageProcessor,
        Emu3Processor,
        GenerationConfig,
    )

    path = _ensure(out_dir)
    _seed()
    codebook = 32
    visual = [f"<|visual token {i:06d}|>" for i in range(codebook)]
    specials = ["<|endoftext|>", "<|extra_203|>", "<|extra_204|>", "<image>", "<|image start|>",
                "<|image end|>", "<|image token|>", "<|extra_200|>", "<|extra_201|>", *visual]
    tokenizer = _byte_bpe(
        specials,
        vocab_size=400,
        bos_token="<|extra_203|>",
        eos_token="<|extra_204|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<image>",
            "boi_token": "<|image start|>",
            "eoi_token": "<|image end|>",
            "image_wrapper_token": "<|image token|>",
            "eof_token": "<|extra_201|>",
        },
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Emu3Config(
        vq_config={
            "codebook_size": codebook, "embed_dim": 4, "latent_channels": 4, "base_channels": 32,
            "channel_multiplier": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [],
            "hidden_size": 32, "num_attention_heads": 1, "temporal_downsample_factor": 4,
        },
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 512, "pad_token_id": ids("<|endoftext|>"),
            "bos_token_id": ids("<|extra_203|>"), "eos_token_id": ids("<|extra_204|>"),
        },
        vocabulary_map=dict(tokenizer.get_vocab()),
    )
    model = Emu3ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids("<|extra_203|>"),
        eos_token_id=ids("<|extra_204|>"),
        pad_token_id=ids("<|endoftext|>"),
    )
    pixels = DEMO_IMAGE_SIZE * DEMO_IMAGE_SIZE
    image_processor = Emu3ImageProcessor(min_pixels=pixels, max_pixels=pixels)
    processor = Emu3Processor(image_processor=image_processor, tokenizer=tokenizer,
                              chat_template=_EMU3_CHAT_TEMPLATE)
    # The generation canvas is a processor attribute (518400 px for the real model): keep it tiny.
    processor.image_area = pixels
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# --------------------------------------------------------------------------------------- LLaVA

_LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_demo_vlm(
    out_dir: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    image_size: int = DEMO_IMAGE_SIZE,
    patch_size: int = 8,
) -> Path:
    """Tiny LLaVA (``LlavaForConditionalGeneration``), loadable through ``AutoModelForImageTextToText``.

    Also the data pipeline's test and benchmark captioner (larger ``hidden_size`` / ``num_layers``
    there): a CLIP vision tower and a Llama text model with seeded random weights, a byte-level BPE
    trained on ``_CORPUS`` and a chat template. Captions are gibberish but deterministic.
    """
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = _ensure(out_dir)
    _seed()
    tokenizer = _byte_bpe(
        ["<s>", "</s>", "<pad>", "<image>"],
        bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    ids = tokenizer.convert_tokens_to_ids
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=image_size, patch_size=patch_size, projection_dim=32,
        ).to_dict(),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
            # long captioning prompts are ~1000 tokens of this tiny tokenizer
            max_position_embeddings=2048,
            bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), pad_token_id=ids("<pad>"),
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
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        vision_feature_select_strategy="default", chat_template=_LLAVA_CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# ----------------------------------------------------------------------------- Stable Diffusion


def _tiny_clip_tokenizer() -> Any:
    """A CLIP tokenizer from an in-code vocabulary: single characters plus end-of-word variants."""
    from transformers import CLIPTokenizer

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def build_demo_t2i(out_dir: str | Path) -> Path:
    """Tiny ``StableDiffusionPipeline`` (64x64 output), loadable via ``AutoPipelineForText2Image``."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    path = _ensure(out_dir)
    _seed()
    tokenizer = _tiny_clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length,
            projection_dim=32, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        )
    ).eval()
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=8, layers_per_block=1, sample_size=64,
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(path, safe_serialization=True)
    return path
