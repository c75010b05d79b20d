"""Tiny random-weight GenEval scoring models: Mask2Former, OWLv2 and an open_clip colour classifier.

Why: the detector and colour code must run in tests and in the offline demo through the same loading
path as the real checkpoints (``from_pretrained`` on a saved directory; open_clip's ``local-dir:``),
without downloading anything. Each model keeps its real architecture, scaled down (64 px images, one or
two layers), with seeded weights. Their detections are meaningless: use ``DEMO_JUDGE_OPTIONS`` (all
thresholds at 0) so random scores still reach the colour and position rules.

``build_real_size_models`` builds the same architectures at their real (default-config) size with random
weights, for the performance benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Image side of the tiny detectors and the tiny colour model.
TINY_IMAGE_SIZE = 64


def demo_judge_options():
    """Judge options for random-weight detectors: every detection passes, so every rule is exercised."""
    from unified_bench.tasks.geneval.judge import JudgeOptions

    return JudgeOptions(threshold=0.0, counting_threshold=0.0)


def _coco_labels() -> dict[int, str]:
    from unified_bench.metrics.detectors.labels import COCO_LABELS

    return dict(enumerate(COCO_LABELS))


def mask2former_config(tiny: bool = True):
    """A Mask2Former config with the 80 COCO labels: tiny, or the default (Swin-S-sized) architecture."""
    from transformers import Mask2FormerConfig, SwinConfig

    labels = _coco_labels()
    common = {"num_labels": 80, "id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    if not tiny:
        return Mask2FormerConfig(**common)
    backbone = SwinConfig(
        image_size=TINY_IMAGE_SIZE, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
        window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return Mask2FormerConfig(
        backbone_config=backbone, hidden_dim=32, feature_size=32, mask_feature_size=32, encoder_layers=1,
        decoder_layers=2, num_attention_heads=2, encoder_feedforward_dim=64, dim_feedforward=64, num_queries=12,
        **common,
    )


def build_mask2former(out: str | Path, tiny: bool = True, image_size: int = TINY_IMAGE_SIZE) -> Path:
    """Save a random-weight Mask2Former + its image processor (resizing to ``image_size``) into ``out``."""
    from transformers import Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor

    out = Path(out)
    Mask2FormerForUniversalSegmentation(mask2former_config(tiny)).save_pretrained(out)
    Mask2FormerImageProcessor(size={"shortest_edge": image_size, "longest_edge": image_size * 1333 // 800},
                              size_divisor=32).save_pretrained(out)
    return out


def _word_tokenizer(words: set[str]):
    """A CLIP tokenizer whose vocabulary holds the letters and ``words`` (built in memory, no files).

    The special tokens come last, as in CLIP's vocabulary: OWL treats a query whose first id is 0 as
    padding, so the begin-of-text id must not be 0.
    """
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    merges: list[tuple[str, str]] = []
    seen_merges: set[tuple[str, str]] = set()

    def add(tok: str) -> None:
        vocab.setdefault(tok, len(vocab))

    for c in "abcdefghijklmnopqrstuvwxyz":
        add(c)
        add(c + "</w>")
    for word in sorted(words):
        symbols = [*word[:-1], word[-1] + "</w>"]
        left = symbols[0]
        for sym in symbols[1:]:
            if (left, sym) not in seen_merges:
                seen_merges.add((left, sym))
                merges.append((left, sym))
            left = left + sym
            add(left)
    add("<|startoftext|>")
    add("<|endoftext|>")
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)


def owlv2_config(tiny: bool = True, vocab_size: int = 49408, eos_token_id: int = 49407):
    from transformers import Owlv2Config

    if not tiny:
        return Owlv2Config()
    return Owlv2Config(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": vocab_size, "max_position_embeddings": 16,
                     "bos_token_id": eos_token_id - 1, "eos_token_id": eos_token_id, "pad_token_id": eos_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": TINY_IMAGE_SIZE, "patch_size": 16},
        projection_dim=32,  # the class head projects image features to the text width
    )


def build_owlv2(out: str | Path, tiny: bool = True) -> Path:
    """Save a random-weight OWLv2 + processor whose tokenizer knows the words of the 80 class queries."""
    from transformers import Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    from unified_bench.tasks.geneval.prompts import CLASSES

    out = Path(out)
    words = {w for c in CLASSES for w in f"a photo of a {c}".split()}
    tokenizer = _word_tokenizer(words)
    model = Owlv2ForObjectDetection(owlv2_config(tiny, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id)
                                    if tiny else owlv2_config(False))
    model.save_pretrained(out)
    side = TINY_IMAGE_SIZE if tiny else 960
    Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": side, "width": side}),
                   tokenizer=tokenizer).save_pretrained(out)
    return out


def build_open_clip(out: str | Path, tiny: bool = True) -> Path:
    """Save an open_clip model as ``open_clip_config.json`` + ``open_clip_model.safetensors`` (``local-dir:``).

    Tiny: a QuickGELU ViT at 64 px; real size: the ``ViT-L-14-quickgelu`` architecture, random weights.
    """
    import open_clip
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if tiny:
        model_cfg: dict[str, Any] = {
            "embed_dim": 16, "quick_gelu": True,
            "vision_cfg": {"image_size": TINY_IMAGE_SIZE, "layers": 1, "width": 32, "patch_size": 16,
                           "head_width": 16},
            # open_clip's own CLIP tokenizer (49408 ids) is used, so the vocabulary stays; the width is tiny.
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 1, "layers": 1},
        }
    else:
        model_cfg = open_clip.get_model_config("ViT-L-14-quickgelu")
    model = open_clip.create_model("ViT-L-14-quickgelu", pretrained=None) if not tiny else None
    if model is None:
        from open_clip.model import CLIP

        model = CLIP(**model_cfg)
    preprocess_cfg = {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD),
                      "interpolation": "bicubic", "resize_mode": "shortest"}
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return out


def build_geneval_models(out_dir: str | Path, seed: int = 0, tiny: bool = True,
                         include: tuple[str, ...] = ("mask2former", "owlv2", "open_clip")) -> dict[str, Path]:
    """Write the GenEval scoring models under ``out_dir``; return {name: directory}.

    Load them with ``Mask2FormerDetector(str(path))``, ``Owlv2Detector(str(path))`` and
    ``ColourClassifier(f"local-dir:{path}")``. The global torch RNG is left untouched.
    """
    import torch

    builders = {"mask2former": build_mask2former, "owlv2": build_owlv2, "open_clip": build_open_clip}
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for offset, name in enumerate(include):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + offset)
            paths[name] = builders[name](out_dir / name, tiny=tiny)
    return paths


def demo_scorer(paths: dict[str, Path], detector: str = "mask2former", device: str = "cpu"):
    """A ``GenevalScorer`` on the tiny models of ``build_geneval_models`` (thresholds 0, see module doc)."""
    from unified_bench.tasks.geneval.scoring import make_scorer

    return make_scorer(detector=detector, detector_checkpoint=str(paths[detector]),
                       colour_model=f"local-dir:{paths['open_clip']}", device=device,
                       detector_batch_size=4, colour_batch_size=16, options=demo_judge_options())
