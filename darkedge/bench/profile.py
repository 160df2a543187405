"""Where an OpenVINO model spends its time: per-layer performance counters, summed by layer type and kernel.

The kernel name (exec_type, e.g. `brgemm_avx512_amx_I8` or `jit_avx512_FP32`) says which precision a layer
really ran in, which is how an INT8 IR that is not faster than FP32 gives itself away.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def openvino_profile(path: Path, threads: int | None = None, runs: int = 100) -> dict[str, Any]:
    """Mean per-inference time by layer type and by kernel over `runs` calls (after one warm-up)."""
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    shape = [d.get_length() for d in compiled.input(0).get_partial_shape()]
    clip = np.random.default_rng(0).random(shape, dtype=np.float32)
    request.infer({0: clip})
    by_type: dict[str, float] = defaultdict(float)
    by_kernel: dict[str, float] = defaultdict(float)
    for _ in range(runs):
        request.infer({0: clip})
        for info in request.profiling_info:
            ms = info.real_time.total_seconds() * 1000 / runs
            by_type[info.node_type] += ms
            by_kernel[info.exec_type] += ms
    total = sum(by_type.values())

    def ranked(d: dict[str, float]) -> list[dict[str, Any]]:
        return [
            {"name": k, "ms": v, "share": v / total if total else 0.0}
            for k, v in sorted(d.items(), key=lambda kv: -kv[1])
            if v > 0
        ]

    return {
        "file": str(path),
        "total_ms": total,
        "by_layer_type": ranked(by_type),
        "by_kernel": ranked(by_kernel),
    }


def profile_text(profile: dict[str, Any], top: int = 8) -> str:
    """The top layer types and kernels as Markdown lines."""
    lines = [f"`{Path(profile['file']).name}`: {profile['total_ms']:.2f} ms summed over layers"]
    for key, title in (("by_layer_type", "layer types"), ("by_kernel", "kernels")):
        parts = ", ".join(
            f"{e['name']} {e['ms']:.2f} ms ({100 * e['share']:.0f}%)" for e in profile[key][:top]
        )
        lines.append(f"- {title}: {parts}")
    return "\n".join(lines)
