"""A tiny classifier (T=4, 32x32, 3 classes) as a darkedge checkpoint and a static ONNX graph, for the infer tests;
conftest.py's `models` fixture builds it once."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from darkedge.checkpoint import save_checkpoint
from darkedge.models import ClassifierConfig, build_model

CLASSES = ["Drink", "Jump", "Walk"]
FRAMES, SIZE = 4, 32
# A model's settings for tests that name only what they are about (ClassifierConfig has no defaults of its own: a
# run's come from its TrainConfig): the paper's ViT + BERT at 8 x 112 px, 11 classes.
PAPER_CLASSIFIER = dict(encoder="vit_tiny", head="bert", num_classes=11, num_frames=8, img_size=112, head_depth=1,
                        dropout=0.2, pretrained=None, input_norm="fixed", width=1.0, freeze_blocks=0)  # fmt: skip


def classifier_config(**fields) -> ClassifierConfig:
    """A ClassifierConfig of PAPER_CLASSIFIER changed by `fields`."""
    return ClassifierConfig(**{**PAPER_CLASSIFIER, **fields})


def make_tiny_models(folder: Path) -> dict[str, Path]:
    """{backend: model file} for "torch" (tiny.pt) and "onnxruntime" (tiny.onnx) in `folder`."""
    torch.manual_seed(0)
    config = asdict(classifier_config(encoder="vit_nano", num_classes=3, num_frames=FRAMES, img_size=SIZE))
    model = build_model("classifier", config).eval()
    checkpoint = save_checkpoint(
        folder / "tiny.pt",
        kind="classifier",
        config=config,
        state_dict=model.state_dict(),
        class_names=CLASSES,
    )
    onnx_path = folder / "tiny.onnx"
    torch.onnx.export(
        model,
        torch.rand(1, 3, FRAMES, SIZE, SIZE),
        onnx_path,
        dynamo=False,
        opset_version=17,
        input_names=["clip"],
    )
    return {"torch": checkpoint, "onnxruntime": onnx_path}


def timm_vit_shapes(dim: int, depth: int, patch: int, img_size: int = 224, classes: int = 1000) -> dict:
    """Names and shapes of a timm VisionTransformer's state dict (as its model.safetensors holds it): patch
    embedding, CLS token, position embeddings for (img_size / patch)^2 patches + CLS, pre-norm blocks with a fused
    qkv and a 4x MLP, final norm, classifier head."""
    block = {
        "norm1.weight": (dim,),
        "norm1.bias": (dim,),
        "attn.qkv.weight": (3 * dim, dim),
        "attn.qkv.bias": (3 * dim,),
        "attn.proj.weight": (dim, dim),
        "attn.proj.bias": (dim,),
        "norm2.weight": (dim,),
        "norm2.bias": (dim,),
        "mlp.fc1.weight": (4 * dim, dim),
        "mlp.fc1.bias": (4 * dim,),
        "mlp.fc2.weight": (dim, 4 * dim),
        "mlp.fc2.bias": (dim,),
    }
    return {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, 1 + (img_size // patch) ** 2, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
        **{f"blocks.{i}.{name}": shape for i in range(depth) for name, shape in block.items()},
        "norm.weight": (dim,),
        "norm.bias": (dim,),
        "head.weight": (classes, dim),
        "head.bias": (classes,),
    }
