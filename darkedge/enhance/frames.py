"""An enhancer as a function of uint8 RGB frames, run by OpenVINO, ONNX Runtime or PyTorch.

`enhance apply` on a long video spends its time here: Zero-DCE costs about 79,000 multiply-accumulates per
pixel, and PyTorch's eager CPU convolutions run it several times slower than OpenVINO. So the enhancer, wrapped
with the uint8 <-> float conversion (`FrameModel`), is converted in memory to the chosen runtime at the first
frame's shape (a static shape, compiled once per frame size) and called frame by frame. Every backend runs the
same graph, so their outputs differ only by float rounding (at most one grey level).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from darkedge.errors import DarkedgeError, require
from darkedge.names import ENHANCE_BACKENDS, OPSET


class FrameModel(nn.Module):
    """uint8 RGB frames (N, H, W, 3) -> the enhancer's output clamped to [0, 1], as uint8 frames (rounded)."""

    def __init__(self, enhancer: nn.Module):
        super().__init__()
        self.enhancer = enhancer

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255
        y = self.enhancer(x).clamp(0, 1) * 255
        return y.round().to(torch.uint8).permute(0, 2, 3, 1)


class FrameEnhancer:
    """Call with a uint8 RGB frame (H, W, 3) to get the enhanced frame; compiles once per frame size."""

    def __init__(self, enhancer: nn.Module, backend: str = "openvino", threads: int | None = None):
        if backend not in ENHANCE_BACKENDS:
            raise DarkedgeError(f"--backend {backend}: expected one of {', '.join(ENHANCE_BACKENDS)}")
        self.model = FrameModel(enhancer).eval()
        self.backend = backend
        self.threads = threads
        self._compiled: dict[tuple[int, ...], object] = {}

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(frame[None])
        run = self._compiled.get(batch.shape)
        if run is None:
            run = self._compiled[batch.shape] = self._compile(batch.shape)
        return run(batch)[0]

    def _compile(self, shape: tuple[int, ...]):
        """A function uint8 (1, H, W, 3) -> uint8 (1, H, W, 3) on the backend, for this one shape."""
        if self.backend == "torch":
            if self.threads:
                torch.set_num_threads(self.threads)  # --threads means the same on every backend
            return self._torch
        example = torch.zeros(shape, dtype=torch.uint8)
        if self.backend == "openvino":
            return _openvino(self.model, example, self.threads)
        return _onnxruntime(self.model, example, self.threads)

    @torch.no_grad()
    def _torch(self, batch: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(batch)).numpy()


def _openvino(model: nn.Module, example: torch.Tensor, threads: int | None):
    ov = require("openvino", "--backend openvino (or --backend torch)")

    with torch.no_grad():
        converted = ov.convert_model(model, example_input=example, input=[(tuple(example.shape), ov.Type.u8)])
    # f32: on CPUs with bf16 units the plugin would otherwise run the enhancer in bf16, silently.
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    request = ov.Core().compile_model(converted, "CPU", config).create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        request.infer({0: batch})
        return request.get_output_tensor(0).data.copy()

    return run


def _onnxruntime(model: nn.Module, example: torch.Tensor, threads: int | None):
    ort = require("onnxruntime", "--backend onnxruntime (or --backend torch)")

    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=["frames"]
        )
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {"frames": batch})[0]
