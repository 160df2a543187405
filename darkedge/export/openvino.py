"""OpenVINO IR export (FP32, FP16, INT8) with a static input shape, so `benchmark_app -m model.xml` just runs it.

FP32 and INT8 are saved with compress_to_fp16=False (the default would halve FP32 weights); FP16 compresses
the weights. INT8 converts the fake-quantized NNCF model: its quantizers become FakeQuantize nodes that the
CPU plugin runs as int8 kernels.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from darkedge.errors import DarkedgeError

PRECISIONS = ("fp32", "fp16", "int8")


def export_openvino(
    model: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike, precision: str
) -> Path:
    """Convert `model` (fake-quantized for int8) to `path` (.xml, with its .bin beside it), both written atomically."""
    import openvino as ov

    path = Path(path)
    if precision not in PRECISIONS:
        raise DarkedgeError(
            f"{path}: OpenVINO IR precision is one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    example = torch.rand(*input_shape)
    with torch.no_grad():
        ov_model = ov.convert_model(model.eval().cpu(), example_input=example, input=[tuple(input_shape)])
    ov_model.inputs[0].get_tensor().set_names({"clips"})
    ov_model.outputs[0].get_tensor().set_names({"logits"})
    # save_model writes name.xml + name.bin: write both in a hidden folder beside `path`, then move them in
    # (the .bin first: the .xml is what readers open).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}."))
    try:
        ov.save_model(ov_model, str(tmp_dir / "model.xml"), compress_to_fp16=precision == "fp16")
        os.replace(tmp_dir / "model.bin", path.with_suffix(".bin"))
        os.replace(tmp_dir / "model.xml", path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path
