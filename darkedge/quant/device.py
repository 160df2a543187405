"""Where quantization-aware distillation runs, and NNCF's C++ extension it needs.

NNCF's fake quantizers on a CUDA tensor call NNCF's CUDA extension, which torch compiles with nvcc (and ninja) on
first use and which has no fallback of its own: without them the first QAT step fails deep inside NNCF. So the
extension is loaded before training starts; when it cannot be, a single process trains on the CPU instead, with one
warning line that says what to install.

On a CPU the first quantize on a machine builds NNCF's CPU extension (minutes on 2 cores) under a lock file that
PyTorch creates in the build folder and removes when the build ends. A build that is killed (SIGKILL, a reboot, or
Ctrl-C while NNCF builds on a thread of its own) leaves the lock, and every later load waits
NNCF_EXTENSION_LOAD_TIMEOUT seconds and fails. `prepare_extension` clears a lock no live process holds (the builder
keeps the lock file open while it builds), then builds the extension on this thread, with a line of progress every
half minute, so that Ctrl-C there removes the lock as the build unwinds.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace
from pathlib import Path

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


PROGRESS_EVERY_S = 30.0  # a line while the extension builds


def lock_holders(lock: Path) -> list[int] | None:
    """The processes that hold `lock` open (a build in progress), or None where /proc cannot tell."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    target, holders = str(lock.resolve()), []
    for pid in proc.iterdir():
        if not pid.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (pid / "fd").iterdir()):
                holders.append(int(pid.name))
        except OSError:  # a process that ended, or one we may not look into
            continue
    return holders


def clear_stale_lock(build_dir: Path) -> bool:
    """Remove `build_dir`/lock when no live process holds it (an interrupted build left it); True when removed. A
    lock a live build holds is left to it; one-line error when this system cannot tell, before any wait."""
    lock = Path(build_dir) / "lock"
    if not lock.exists():
        return False
    holders = lock_holders(lock)
    if holders is None:
        raise DarkedgeError(
            f"{lock}: an NNCF extension build lock; if no other `darkedge quantize` is running, remove {build_dir} "
            "and run it again"
        )
    if holders:
        log.info(
            "quantize: process %s is building NNCF's extension in %s; waiting for it", holders[0], build_dir
        )
        return False
    lock.unlink(missing_ok=True)
    log.warning("quantize: removed %s, a lock an interrupted build of NNCF's extension left behind", lock)
    return True


def prepare_extension(device: str) -> None:
    """NNCF's extension for `device` ready before quantizing: a stale lock cleared, and a first build run here,
    with progress lines, instead of silently on NNCF's own thread."""
    from nncf.torch.quantization.extensions import QuantizedFunctionsCPULoader, QuantizedFunctionsCUDALoader

    loader = QuantizedFunctionsCUDALoader if device.startswith("cuda") else QuantizedFunctionsCPULoader
    build_dir = Path(loader.get_build_dir())
    clear_stale_lock(build_dir)
    if device.startswith("cuda") or any(build_dir.glob("*.so")):
        return  # built already (CUDA: cuda_extension_problem loads it, with its own checks)
    log.info(
        "quantize: building NNCF's CPU extension in %s (once per machine; minutes on a small CPU)", build_dir
    )
    done = threading.Event()

    def tick() -> None:
        waited = 0.0
        while not done.wait(PROGRESS_EVERY_S):
            waited += PROGRESS_EVERY_S
            log.info("quantize: still building NNCF's CPU extension (%.0f s)", waited)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        loader.load()
    finally:
        done.set()
        ticker.join()


def qat_device(d: Dist) -> Dist:
    """`d`, or `d` on the CPU when it is on CUDA and NNCF's CUDA extension cannot load (with a warning). Under
    torchrun the processes share a CUDA process group, so there it is a one-line error instead. NNCF's extension
    is made ready for the device first (prepare_extension)."""
    prepare_extension(d.device)
    if not d.device.startswith("cuda"):
        return d
    problem = cuda_extension_problem()
    if problem is None:
        return d
    if d.enabled:
        raise DarkedgeError(f"quantize on CUDA under torchrun: {problem}")
    log.warning("quantize: QAT falls back to the CPU: %s", problem)
    return replace(d, device="cpu")
