"""What a benchmark ran on: CPU model, cores, the instruction sets that decide INT8 speed, library versions."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from darkedge.cores import usable_cores
from darkedge.run import library_versions

# CPU flags that decide how fast FP32, bf16 and INT8 kernels can be (VNNI and AMX do INT8 dot products).
RELEVANT_FLAGS = (
    "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
    "amx_bf16", "asimd", "asimddp", "sve",
)  # fmt: skip
LIBRARIES = (
    "darkedge",
    "torch",
    "numpy",
    "openvino",
    "onnxruntime",
    "nncf",
    "onnx",
    "tensorrt",
    "opencv-python-headless",
    "timm",
    "triton",
)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty off Linux)."""
    fields: dict[str, str] = {}
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return fields
    for line in path.read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def gpu_info() -> list[dict[str, Any]]:
    """The CUDA GPUs torch sees (name, memory, compute capability), if this process has imported torch."""
    torch = sys.modules.get("torch")  # never imported here: an OpenVINO-only process stays torch-free
    if torch is None or not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append(
            {
                "name": props.name,
                "memory_gb": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}",
                "cuda": torch.version.cuda,
            }
        )
    return gpus


def machine_info() -> dict[str, Any]:
    """A plain dict describing this machine and the libraries a benchmark used."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    try:
        import psutil

        physical_cores = psutil.cpu_count(logical=False)
        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        physical_cores, memory_gb = None, None
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "architecture": platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores,
        "usable_cores": usable_cores(),
        "memory_gb": memory_gb,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cpu_flags": [f for f in RELEVANT_FLAGS if f in flags],
        "gpus": gpu_info(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(LIBRARIES),
    }


def machine_line(machine: dict[str, Any]) -> str:
    """A report's last line: the machine, its load at the end, and the library versions."""
    return (
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, load average at the end "
        f"{machine['load_average_1min']}; {machine['os']}; Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    )


def report_footer(command: str, machine: dict[str, Any], note: str = "") -> list[str]:
    """A report's last lines: the command that produced it, when (and `note`), and the machine."""
    import time

    return ["", f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}{note}.", "", machine_line(machine)]
