"""TensorRT engines, built from the ONNX export on the box that runs them (Jetson or a desktop GPU).

TensorRT 10 (JetPack 6) builds a Q/DQ graph with the INT8 and FP16 builder flags (FP16 keeps LayerNorm,
Softmax and GELU off FP32), as `trtexec --int8 --fp16` does. TensorRT 11 removed precision flags: networks
are strongly typed, so the ONNX graph's own types (Q/DQ for INT8, an FP16 export for FP16) are the precision.
This module imports without TensorRT; only building needs it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path, write_json
from darkedge.names import PRECISIONS
from darkedge.runtime.metadata import (
    ENGINE_METADATA,
    METADATA_VERSION,
    engine_metadata_path,
    read_metadata,
)

MAX_BATCH = 8  # the optimisation profile covers batches 1..MAX_BATCH


@dataclass(frozen=True)
class BuildPlan:
    """How to build for one TensorRT major version and precision."""

    strongly_typed: bool
    builder_flags: tuple[str, ...]  # names in trt.BuilderFlag
    onnx_precision: str  # which ONNX export to build from: fp32, fp16 or int8 (Q/DQ)


def plan_build(major: int, precision: str) -> BuildPlan:
    """The network mode, builder flags and ONNX input for TensorRT `major` at `precision`."""
    if precision not in PRECISIONS:
        raise DarkedgeError(f"tensorrt: precision is one of {', '.join(PRECISIONS)}, not {precision!r}")
    if major < 10:
        raise DarkedgeError(f"tensorrt: version {major} is too old, darkedge builds with TensorRT 10 or 11+")
    if major >= 11:
        return BuildPlan(strongly_typed=True, builder_flags=(), onnx_precision=precision)
    flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8", "FP16")}[precision]
    return BuildPlan(
        strongly_typed=False, builder_flags=flags, onnx_precision="int8" if precision == "int8" else "fp32"
    )


def import_tensorrt():
    """The tensorrt module, or a one-line error saying where engines are built."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError:
        raise DarkedgeError(
            "tensorrt: not installed here (pip install 'darkedge[tensorrt]', or JetPack's python3-libnvinfer); "
            "build engines on the box that runs them"
        ) from None


def tensorrt_major(trt) -> int:
    """The major version of an imported tensorrt module."""
    return int(str(trt.__version__).split(".")[0])


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    precision: str,
    max_batch: int = MAX_BATCH,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Parse the ONNX file (made for `plan_build(...).onnx_precision`) and write a serialized engine atomically,
    with `metadata` in <engine>.json beside it."""
    trt = import_tensorrt()
    plan = plan_build(tensorrt_major(trt), precision)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network_flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(network_flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise DarkedgeError(f"{onnx_path}: TensorRT cannot parse it ({first})")
    config = builder.create_builder_config()
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    clips = network.get_input(0)
    shape = tuple(clips.shape)[1:]
    profile = builder.create_optimization_profile()
    profile.set_shape(clips.name, (1, *shape), (1, *shape), (max_batch, *shape))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise DarkedgeError(
            f"{onnx_path}: TensorRT {trt.__version__} failed to build a {precision} engine (see its log)"
        )
    return write_engine(bytes(engine), engine_path, metadata or {})


def write_engine(serialized: bytes, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write an engine and its metadata JSON (darkedge.runtime.metadata) together: both appear, or neither."""
    path = Path(path)
    with atomic_path(path, companions=(path.suffix + ENGINE_METADATA,)) as tmp:
        write_json(engine_metadata_path(tmp), metadata)
        tmp.write_bytes(serialized)
    return path


def describe_engine(
    onnx_path: str | os.PathLike, engine_path: str | os.PathLike, precision: str = ""
) -> Path:
    """Write <engine>.json for an engine built by hand (deploy/build_engine.sh runs trtexec) from the metadata of the
    ONNX file it was built from; `precision` is what the build made of it (the ONNX's own when empty)."""
    metadata = read_metadata(onnx_path)
    if not metadata.get("class_names"):
        raise DarkedgeError(
            f"{onnx_path}: carries no darkedge metadata (export it again with `darkedge export`)"
        )
    # an older export's metadata comes from its run directory; written beside the engine, it is the engine's own
    metadata.setdefault("metadata_version", METADATA_VERSION)
    metadata.update(format="tensorrt", built_from=Path(onnx_path).name)
    if precision:
        metadata["precision"] = precision
    path = engine_metadata_path(engine_path)
    write_json(path, metadata)
    return path


def compile_torch_tensorrt(
    model, input_shape: tuple[int, ...], path: str | os.PathLike, precision: str
) -> Path:
    """The desktop-GPU option: torch-tensorrt compiles the FP32 model (fp32 or fp16) and saves an ExportedProgram."""
    import torch

    try:
        torch_tensorrt = importlib.import_module("torch_tensorrt")
    except ImportError:
        raise DarkedgeError(
            "torch-tensorrt: not installed here (pip install torch-tensorrt; it needs TensorRT 11)"
        ) from None
    if precision not in ("fp32", "fp16"):
        raise DarkedgeError(
            f"torch-tensorrt: fp32 or fp16 only (it cannot take NNCF INT8 models), not {precision!r}"
        )
    if not torch.cuda.is_available():
        raise DarkedgeError("torch-tensorrt: needs a CUDA GPU")
    example = torch.rand(*input_shape, device="cuda")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    compiled = torch_tensorrt.compile(
        model.eval().cuda(), ir="dynamo", inputs=[example], enabled_precisions={dtype}
    )
    with atomic_path(path) as tmp:
        torch_tensorrt.save(compiled, str(tmp), inputs=[example])
    return Path(path)
