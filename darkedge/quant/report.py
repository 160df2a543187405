"""The quantization report: accuracy of FP32 / PTQ-only / QAT-with-distillation, sizes, and what stayed FP.

Written to RUN/quant/report.json and printed as a table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from darkedge.export.onnx import float_layers

# ONNX operators that compute in floating point in the Q/DQ graph (NNCF's TRANSFORMER model type leaves them so).
FLOAT_OP_TYPES = ("LayerNormalization", "Softmax", "Gelu", "Erf", "ReduceMean", "Div", "Sqrt", "Pow", "Tanh")


def float_summary(qdq_onnx: Path) -> dict[str, Any]:
    """Which layers of the Q/DQ graph stayed in floating point: unquantized MatMul/Gemm/Conv and FP op counts."""
    import onnx

    nodes = onnx.load(str(qdq_onnx)).graph.node
    counts = Counter(node.op_type for node in nodes)
    compute = sum(counts[t] for t in ("MatMul", "Gemm", "Conv"))
    fp_layers = float_layers(qdq_onnx)
    return {
        "quantized_matmul_conv": compute - len(fp_layers),
        "float_matmul_conv": fp_layers,
        "float_ops": {t: counts[t] for t in FLOAT_OP_TYPES if counts[t]},
        "quantize_nodes": counts["QuantizeLinear"],
    }


def format_report(report: dict[str, Any]) -> str:
    """A terminal table: one row per model, then sizes and the floating-point layers."""
    rows = [("model", "top-1 %", "top-5 %", "size MB")]  # INT8 size: the OpenVINO INT8 IR
    for name, entry in report["models"].items():
        acc = entry.get("accuracy") or {}
        top1 = "-" if acc.get("top1") is None else f"{acc['top1']:.2f}"
        top5 = "-" if acc.get("top5") is None else f"{acc['top5']:.2f}"
        size = "-" if entry.get("size_mb") is None else f"{entry['size_mb']:.3f}"
        rows.append((name, top1, top5, size))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.get("protocol"):
        lines.append(f"test split: {report['protocol']}, {report.get('test_clips', 0)} clips")
    fp = report.get("float_point")
    if fp:
        ops = ", ".join(f"{k} x{v}" for k, v in fp["float_ops"].items()) or "none"
        lines.append(
            f"INT8 graph: {fp['quantized_matmul_conv']} MatMul/Gemm/Conv quantized, "
            f"{len(fp['float_matmul_conv'])} left in floating point; floating-point ops: {ops}"
        )
        for name in fp["float_matmul_conv"]:
            lines.append(f"  FP: {name}")
    return "\n".join(lines)
