"""Tiny random-weight versions of the four scoring encoders, saved in their real on-disk formats.

Why: tests and the offline demo must exercise the exact loading path a real checkpoint takes
(``from_pretrained`` on a saved directory; ``torch.load`` of an OpenAI-format ``longclip-L.pt``)
without downloading anything. Each model keeps its real architecture and image-processor logic,
scaled down (32 px images, a few layers) so all four build in well under a second. Weights are
seeded, so the same call always writes the same tensors.
"""

from __future__ import annotations

from pathlib import Path

#: Image side (pixels) of every tiny demo model and encoder (their processors resize/crop to this).
DEMO_IMAGE_SIZE = 32


def _clip(out: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    cfg = CLIPConfig(
        text_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
            "vocab_size": 128, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": DEMO_IMAGE_SIZE, "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(cfg).save_pretrained(out)
    # The real openai/clip processor (shortest side -> crop, bicubic, CLIP mean/std) at 32 px.
    CLIPImageProcessor(
        size={"shortest_edge": DEMO_IMAGE_SIZE}, crop_size={"height": DEMO_IMAGE_SIZE, "width": DEMO_IMAGE_SIZE}
    ).save_pretrained(out)


def _dinov2(out: Path) -> None:
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    cfg = Dinov2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=DEMO_IMAGE_SIZE, patch_size=8,
    )
    Dinov2Model(cfg).save_pretrained(out)
    # facebook/dinov2-large: BitImageProcessor, shortest side 256 -> centre crop 224, ImageNet mean/std.
    BitImageProcessor(
        size={"shortest_edge": 36},
        crop_size={"height": DEMO_IMAGE_SIZE, "width": DEMO_IMAGE_SIZE},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(out)


def _dinov3(out: Path) -> None:
    from transformers import DINOv3ViTConfig, DINOv3ViTImageProcessor, DINOv3ViTModel

    cfg = DINOv3ViTConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=DEMO_IMAGE_SIZE, patch_size=8, num_register_tokens=4,
    )
    DINOv3ViTModel(cfg).save_pretrained(out)
    # The real DINOv3 processor: resize to a fixed square (bilinear, antialiased), ImageNet mean/std.
    DINOv3ViTImageProcessor(size={"height": DEMO_IMAGE_SIZE, "width": DEMO_IMAGE_SIZE}).save_pretrained(out)


def tiny_longclip_state_dict() -> dict:
    """An OpenAI-format CLIP state dict shaped like LongCLIP (248 text positions), tiny and seeded.

    Widths are 64 because ``build_model_from_openai_state_dict`` derives heads = width // 64.
    Weights go through open_clip's fp16 conversion, as OpenAI/LongCLIP checkpoints are stored.
    """
    import torch
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, convert_weights_to_fp16

    model = CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, patch_size=8, image_size=DEMO_IMAGE_SIZE),
        text_cfg=CLIPTextCfg(context_length=248, vocab_size=128, width=64, heads=1, layers=1),
        quick_gelu=True,
    )
    convert_weights_to_fp16(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    # LongCLIP's second text positional table (used only by its text tower); real checkpoints have it.
    state["positional_embedding_res"] = torch.randn(248, 64) * 0.01
    return state


def _longclip(out: Path) -> None:
    import torch

    from unified_bench.metrics.encoders.longclip import LONGCLIP_FILENAME

    out.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_longclip_state_dict(), out / LONGCLIP_FILENAME)


_BUILDERS = {"clip": _clip, "dinov2": _dinov2, "dinov3": _dinov3, "longclip": _longclip}


def build_demo_encoders(out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write the four tiny encoders under ``out_dir``; return {encoder name: checkpoint path}.

    The returned paths load through the same constructors as real checkpoints
    (``ClipEncoder(path)``, ``LongClipEncoder(path)``, ...). The global torch RNG is left untouched.
    """
    import torch

    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for offset, (name, build) in enumerate(_BUILDERS.items()):
        target = out_dir / name
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + offset)
            build(target)
        paths[name] = target
    return paths
