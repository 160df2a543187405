"""Where quantization-aware distillation runs. NNCF's fake quantizers on a CUDA tensor call NNCF's CUDA extension,
which torch compiles with nvcc (and ninja) on first use and which has no fallback of its own: without them the
first QAT step fails deep inside NNCF. So the extension is loaded before training starts; when it cannot be, a
single process trains on the CPU instead, with one warning line that says what to install.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from darkedge.errors import DarkedgeError
from darkedge.train.distributed import Dist

log = logging.getLogger(__name__)


def cuda_extension_problem() -> str | None:
    """None when NNCF's CUDA quantizer kernels load (compiled with nvcc the first time, cached after), else one
    line saying what is missing and what to install."""
    from torch.utils import cpp_extension

    cuda = torch.version.cuda
    if cpp_extension.CUDA_HOME is None:
        return (
            f"nvcc not found: install the CUDA toolkit {cuda} (the one torch was built with), or set CUDA_HOME "
            "to where it is"
        )
    if not cpp_extension.is_ninja_available():
        return "ninja not found: pip install ninja (torch builds NNCF's CUDA kernels with it)"
    try:
        from nncf.torch.quantization.extensions import QuantizedFunctionsCUDA

        QuantizedFunctionsCUDA.get("Quantize_forward")
    except Exception as error:  # NNCF raises its InstallationError, a timeout, or the compiler's error
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        return (
            f"NNCF's CUDA extension did not build with {cpp_extension.CUDA_HOME}/bin/nvcc ({type(error).__name__}: "
            f"{reason}); install the CUDA toolkit {cuda} with a host compiler it supports, or raise "
            "NNCF_EXTENSION_LOAD_TIMEOUT (seconds) when the build is only slow"
        )
    return None


def qat_device(d: Dist) -> Dist:
    """`d`, or `d` on the CPU when it is on CUDA and NNCF's CUDA extension cannot load (with a warning). Under
    torchrun the processes share a CUDA process group, so there it is a one-line error instead."""
    if not d.device.startswith("cuda"):
        return d
    problem = cuda_extension_problem()
    if problem is None:
        return d
    if d.enabled:
        raise DarkedgeError(f"quantize on CUDA under torchrun: {problem}")
    log.warning("quantize: QAT falls back to the CPU: %s", problem)
    return replace(d, device="cpu")
