"""Exports of a run's models: ONNX (FP32/FP16, Q/DQ INT8), OpenVINO IR, TensorRT engines, and their check."""

from darkedge.export.check import check_exports, format_check
from darkedge.export.command import EXPORTERS, export_model, resolve_target

__all__ = [
    "EXPORTERS",
    "check_exports",
    "export_model",
    "format_check",
    "resolve_target",
]
