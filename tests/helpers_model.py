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


def make_tiny_models(folder: Path) -> dict[str, Path]:
    """{backend: model file} for "torch" (tiny.pt) and "onnxruntime" (tiny.onnx) in `folder`."""
    torch.manual_seed(0)
    config = asdict(ClassifierConfig(encoder="vit_nano", num_classes=3, num_frames=FRAMES, img_size=SIZE))
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
