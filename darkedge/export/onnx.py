"""ONNX export: FP32 (and FP16) graphs, and the INT8 Q/DQ graph TensorRT builds engines from.

The Q/DQ graph comes from `nncf.strip(NATIVE)` (real QuantizeLinear / DequantizeLinear pairs, via torchao)
and the TorchScript exporter at opset 17: the dynamo exporter fails on quantized models. TensorRT accepts
only symmetric int8 quantization, so every QuantizeLinear is checked before the file is written.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path
from darkedge.names import OPSET
from darkedge.runtime.metadata import encode_metadata

INPUT_NAME, OUTPUT_NAME = "clips", "logits"


class _Float16Model(nn.Module):
    """Runs the wrapped model in float16 but keeps float32 input and logits (the tensor contract)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips.half()).float()


def _export(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: Path,
    quantized: bool,
    metadata: dict[str, Any] | None,
) -> None:
    """TorchScript-based export with a dynamic batch dimension and `metadata` in the graph's metadata_props; the
    file appears only once it is complete."""
    example = torch.rand(*input_shape)
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            model.eval().cpu(),
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
        if metadata:
            set_metadata(tmp, metadata)
        check_qdq_int8(tmp, quantized, name=str(path))


def set_metadata(path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Store `metadata` (darkedge.runtime.metadata) in the ONNX file's metadata_props, replacing what was there."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, encode_metadata(metadata))
    onnx.save(model, str(path))


def export_onnx(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: str | os.PathLike,
    precision: str = "fp32",
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export a floating-point model (fp32, or fp16 inside with float32 input/output) to `path`, carrying
    `metadata` (darkedge.runtime.metadata.export_metadata) when given."""
    if precision not in ("fp32", "fp16"):
        raise DarkedgeError(
            f"{path}: ONNX export of a floating-point model is fp32 or fp16, not {precision!r}"
        )
    net = model if precision == "fp32" else _Float16Model(model)
    _export(net, input_shape, Path(path), quantized=False, metadata=metadata)
    return Path(path)


def export_onnx_int8(
    qmodel: nn.Module,
    input_shape: tuple[int, ...],
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Export a fake-quantized (NNCF) model as a Q/DQ ONNX graph carrying `metadata`, checked symmetric int8
    before it is written."""
    import nncf

    if not any(name.startswith("__nncf_hooks") for name in qmodel.state_dict()):
        raise DarkedgeError(
            f"{path}: the model holds no NNCF quantizers; make an INT8 student with `darkedge quantize`"
        )
    example = torch.rand(*input_shape)
    stripped = nncf.strip(
        copy.deepcopy(qmodel).eval(), strip_format=nncf.StripFormat.NATIVE, example_input=example
    )
    _export(stripped, input_shape, Path(path), quantized=True, metadata=metadata)
    return Path(path)


def check_qdq_int8(path: str | os.PathLike, quantized: bool = True, name: str | None = None) -> None:
    """Raise a one-line error unless every QuantizeLinear is int8 with zero-point 0 (TensorRT's rule).

    With `quantized`, a graph without any QuantizeLinear is an error too; `name` is the file the message names.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    path = name or path
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:  # topological order: an Identity's input is resolved before it
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                constants[node.output[0]] = numpy_helper.to_array(value)
        elif node.op_type == "Identity" and node.input[0] in constants:
            constants[node.output[0]] = constants[node.input[0]]
    quantize_nodes = [node for node in graph.node if node.op_type == "QuantizeLinear"]
    if quantized and not quantize_nodes:
        raise DarkedgeError(f"{path}: no QuantizeLinear nodes: the INT8 graph is not quantized")
    for node in quantize_nodes:
        if len(node.input) < 3 or node.input[2] not in constants:
            raise DarkedgeError(
                f"{path}: QuantizeLinear {node.name!r} has no constant zero-point (uint8 by default)"
            )
        zero_point = constants[node.input[2]]
        if zero_point.dtype.name != "int8":
            raise DarkedgeError(
                f"{path}: QuantizeLinear {node.name!r} is {zero_point.dtype.name}, TensorRT needs int8"
            )
        if zero_point.any():
            raise DarkedgeError(
                f"{path}: QuantizeLinear {node.name!r} has a non-zero zero-point, TensorRT needs 0"
            )


# Ops between a DequantizeLinear and a MatMul that move or scale values without changing their quantization
# (attention scales q and k by a constant before q @ k^T).
PASS_THROUGH = ("Transpose", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Flatten", "Mul")


def zero_pad(node) -> bool:
    """A Pad that adds zeros (TensorFlow "SAME" padding before a Conv): zero is exact in int8 with zero-point 0,
    so the Conv still reads int8 values (OpenVINO and TensorRT run it quantized)."""
    if node.op_type != "Pad":
        return False
    mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
    return mode == b"constant" and (len(node.input) < 3 or not node.input[2])


def float_layers(path: str | os.PathLike) -> list[str]:
    """Names of the MatMul / Gemm / Conv nodes of a Q/DQ graph with an input that is not dequantized int8."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}

    def dequantized(name: str) -> bool:
        while name in producer and (producer[name].op_type in PASS_THROUGH or zero_pad(producer[name])):
            name = producer[name].input[0]
        return name in producer and producer[name].op_type == "DequantizeLinear"

    return [
        node.name
        for node in graph.node
        if node.op_type in ("MatMul", "Gemm", "Conv") and not all(dequantized(i) for i in node.input[:2])
    ]
