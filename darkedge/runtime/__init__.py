"""One predictor interface over PyTorch, ONNX Runtime, OpenVINO and TensorRT.

predictor = load_predictor("runs/latest/export/student_int8.xml", threads=2)
logits = predictor.predict(clips)  # float32 (B, 3, T, H, W) in [0, 1] -> (B, C)
"""

from __future__ import annotations

import os
from pathlib import Path

from darkedge.errors import DarkedgeError
from darkedge.names import BACKEND_BY_SUFFIX, BACKEND_SUFFIXES, BACKENDS
from darkedge.runtime.predictor import Predictor
from darkedge.runtime.torch_settings import TorchSettings


def backend_for(path: str | os.PathLike) -> str:
    """The backend a model file's extension implies."""
    path = Path(path)
    try:
        return BACKEND_BY_SUFFIX[path.suffix]
    except KeyError:
        known = ", ".join(BACKEND_BY_SUFFIX)
        raise DarkedgeError(
            f"{path}: unknown model format '{path.suffix}' (expected one of {known})"
        ) from None


def load_predictor(
    path: str | os.PathLike,
    backend: str | None = None,
    threads: int | None = None,
    batch: int | None = None,
    torch_settings: TorchSettings | None = None,
    max_batch: int | None = None,
) -> Predictor:
    """A predictor for the model at `path`; `backend` defaults to the one its extension implies.

    `batch` (OpenVINO only) reshapes a static IR to that batch size, for throughput measurements;
    `torch_settings` (torch only) choose the device, precision and compilation;
    `max_batch` (OpenVINO only) frees a static IR's batch to 1..max_batch, for batched multi-camera inference
    (the other backends take the batches their file allows: Predictor.max_batch says which).
    """
    path = Path(path)
    backend = backend or backend_for(path)
    if backend not in BACKENDS:
        raise DarkedgeError(f"{path}: unknown backend '{backend}' (expected one of {', '.join(BACKENDS)})")
    if not path.is_file():
        raise DarkedgeError(f"{path}: no such model file")
    if torch_settings is not None and torch_settings != TorchSettings() and backend != "torch":
        raise DarkedgeError(f"{path}: device, precision and compile settings are for the torch backend")
    expected = BACKEND_SUFFIXES[backend]
    if path.suffix != expected:
        raise DarkedgeError(f"{path}: backend '{backend}' loads {expected} files, not '{path.suffix}'")
    # each backend's module is imported only when used: its runtime library is optional, and heavy
    if backend == "torch":
        from darkedge.runtime.torch_predictor import TorchPredictor

        return TorchPredictor(path, threads, torch_settings)
    if backend == "onnxruntime":
        from darkedge.runtime.onnxruntime_predictor import OnnxRuntimePredictor

        return OnnxRuntimePredictor(path, threads)
    if backend == "openvino":
        from darkedge.runtime.openvino_predictor import OpenVinoPredictor

        return OpenVinoPredictor(path, threads, batch, max_batch)
    from darkedge.runtime.tensorrt_predictor import TensorRtPredictor

    return TensorRtPredictor(path, threads)


__all__ = ["BACKENDS", "Predictor", "TorchSettings", "backend_for", "load_predictor"]
