"""OpenVINO IR export (FP32, FP16, INT8) with a static input shape, so `benchmark_app -m model.xml` just runs it.

FP32 and INT8 are saved with compress_to_fp16=False (the default would halve FP32 weights); FP16 compresses
the weights. INT8 converts the fake-quantized NNCF model: its quantizers become FakeQuantize nodes that the
CPU plugin runs as int8 kernels.

The quantizers on ReLU outputs are made unsigned first (uint8 over [0, scale], NNCF's own choice for OpenVINO). The
student is quantized with signed ones for TensorRT, which takes int8 only (darkedge.quant.ptq); on a ReLU output
they use half their levels, and OpenVINO's CPU plugin runs a signed input through its u8 x s8 dot products with a
compensation term and keeps the ReLU as its own step. Unsigned, the ReLU folds into the quantizer, every
convolution reads u8, and the default INT8 student runs 1.1-1.3x faster on a 2-core VNNI CPU (the ablation in
benchmarks/results/frontier.md). The clip range is the trained one; the steps are half as large, so the IR is
within half a signed step of the fake-quantized student on every such activation (`darkedge export --check`
measures the difference).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path
from darkedge.names import PRECISIONS
from darkedge.runtime.metadata import OPENVINO_SECTION, encode_metadata


def export_openvino(
    model: nn.Module,
    input_shape: tuple[int, ...],
    path: str | os.PathLike,
    precision: str,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Convert `model` (fake-quantized for int8) to `path` (.xml, with its .bin beside it), both written atomically,
    with `metadata` (darkedge.runtime.metadata.export_metadata) in the IR's rt_info under "darkedge"."""
    import openvino as ov

    path = Path(path)
    if precision not in PRECISIONS:
        raise DarkedgeError(
            f"{path}: OpenVINO IR precision is one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    if precision == "int8":
        model = unsigned_after_relu(model)
    example = torch.rand(*input_shape)
    with torch.no_grad():
        ov_model = ov.convert_model(model.eval().cpu(), example_input=example, input=[tuple(input_shape)])
    ov_model.inputs[0].get_tensor().set_names({"clips"})
    ov_model.outputs[0].get_tensor().set_names({"logits"})
    for key, value in encode_metadata(metadata or {}).items():  # rt_info keeps strings exactly, not lists
        ov_model.set_rt_info(value, [OPENVINO_SECTION, key])
    with atomic_path(path, companions=(".bin",)) as tmp:  # save_model writes name.xml and name.bin
        ov.save_model(ov_model, str(tmp), compress_to_fp16=precision == "fp16")
    return path


# NNCF names the quantizer on an operation's output after the operation: post_hooks.<module path>/relu_/0__0.0
RELU_OUTPUT = re.compile(r"post_hooks\.[^.]*/relu_?/\d+__\d+")


def unsigned_after_relu(qmodel: nn.Module) -> nn.Module:
    """A copy of a fake-quantized (NNCF) model whose quantizers on ReLU outputs are unsigned, scales kept."""
    from nncf.torch.quantization.layers import SymmetricQuantizer

    model = copy.deepcopy(qmodel)
    for name, module in model.named_modules():
        if isinstance(module, SymmetricQuantizer) and module.signed and RELU_OUTPUT.search(name):
            module.signed = False
    return model


def size_on_disk(path: Path) -> int:
    """Bytes of a model file, with the weights file an OpenVINO .xml refers to."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size
