"""How the torch backend runs a model (device, precision, compilation), as plain data: benchmark processes pass it
around and check it before anything loads torch's models, so this module imports torch only to check a device."""

from __future__ import annotations

from dataclasses import dataclass

from darkedge.errors import DarkedgeError

# Precisions the torch backend runs in: FP32, or autocast to FP16 / bf16 (weights stay FP32; matmuls and
# convolutions run in the low precision, norms and softmax in FP32).
TORCH_PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class TorchSettings:
    """How the torch backend runs a model: the device, the precision, and the two ways to cut launch overhead."""

    device: str = "cpu"
    precision: str = "fp32"
    compile: bool = False  # torch.compile (inductor); the first calls compile
    cuda_graphs: bool = False  # capture one CUDA graph per input shape and replay it (CUDA only)


def check_torch_settings(settings: TorchSettings) -> None:
    """One-line error for a device torch cannot see or a combination it cannot run."""
    import torch

    if settings.precision not in TORCH_PRECISIONS:
        raise DarkedgeError(
            f"--precision {settings.precision}: the torch backend runs {', '.join(TORCH_PRECISIONS)}"
        )
    if settings.device.startswith("cuda"):
        if not torch.cuda.is_available():
            built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU build)"
            raise DarkedgeError(
                f"--device {settings.device}: no CUDA GPU visible to torch {torch.__version__} (built with {built})"
            )
        index = torch.device(settings.device).index or 0
        if index >= torch.cuda.device_count():
            raise DarkedgeError(
                f"--device {settings.device}: only {torch.cuda.device_count()} GPU(s) visible"
            )
    elif settings.device != "cpu":
        raise DarkedgeError(f"--device {settings.device}: expected cpu, cuda or cuda:N")
    if settings.cuda_graphs and not settings.device.startswith("cuda"):
        raise DarkedgeError("--cuda-graphs: CUDA graphs need --device cuda")
    if settings.cuda_graphs and settings.compile:
        raise DarkedgeError("--cuda-graphs and --compile: choose one (compile has its own graph mode)")
