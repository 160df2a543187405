"""Where QAT runs: NNCF's CUDA extension is loaded before training, and when it cannot be (no nvcc, no ninja, a
failed build) a single process falls back to the CPU with one warning line that says what to install.

This machine has no CUDA GPU, so the failures are the real ones NNCF gives here (its CUDA functions refuse to load
without a GPU); only the device torch reports is stood in for."""

import logging
import os
from pathlib import Path

import pytest
from helpers_run import make_tiny_data, make_tiny_run
from torch.utils import cpp_extension

import darkedge.quant.device as device_module
from darkedge.errors import DarkedgeError
from darkedge.quant.device import cuda_extension_problem, qat_device
from darkedge.train.distributed import Dist

CUDA = Dist(device="cuda:0")


def test_missing_nvcc_and_ninja_are_named(monkeypatch):
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    assert cuda_extension_problem().startswith("nvcc not found: install the CUDA toolkit")
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", "/usr/local/cuda")
    monkeypatch.setattr(cpp_extension, "is_ninja_available", lambda: False)
    assert (
        cuda_extension_problem()
        == "ninja not found: pip install ninja (torch builds NNCF's CUDA kernels with it)"
    )


def test_an_extension_that_does_not_load_is_reported_in_one_line(monkeypatch):
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", "/usr/local/cuda")
    monkeypatch.setattr(cpp_extension, "is_ninja_available", lambda: True)
    problem = cuda_extension_problem()  # NNCF's own refusal: its CUDA functions without a CUDA device
    assert problem.startswith("NNCF's CUDA extension did not build with /usr/local/cuda/bin/nvcc (")
    assert "InstallationError" in problem and "\n" not in problem


def test_qat_falls_back_to_the_cpu_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    with caplog.at_level(logging.WARNING, logger="darkedge"):
        assert qat_device(CUDA) == Dist(device="cpu")
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("quantize: QAT falls back to the CPU: nvcc not found")
    with pytest.raises(DarkedgeError, match="quantize on CUDA under torchrun: nvcc not found"):
        qat_device(Dist(rank=0, world_size=2, device="cuda:0"))  # a CUDA process group cannot fall back


def test_cpu_and_a_working_extension_stay_where_they_are(monkeypatch):
    assert qat_device(Dist()) == Dist()
    monkeypatch.setattr(device_module, "cuda_extension_problem", lambda: None)
    assert qat_device(CUDA) is CUDA


def test_quantize_on_a_gpu_without_nvcc_runs_qat_on_the_cpu(tmp_path, monkeypatch, caplog):
    """The whole `darkedge quantize` when torch reports a GPU but NNCF cannot build for it: it finishes, on the CPU."""
    import darkedge.quant.command as pipeline
    from darkedge.quant import QatConfig, quantize_run

    data = make_tiny_data(tmp_path / "data", clips_per_class=4)
    run = make_tiny_run(tmp_path, data)
    monkeypatch.setattr(pipeline, "init_distributed", lambda: CUDA)
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    cfg = QatConfig(calib=str(data), calib_clips=2, max_steps=1, batch_size=2, workers=0, export=False)
    with caplog.at_level(logging.WARNING, logger="darkedge"):
        report, _ = quantize_run(run, cfg)
    assert report["qat"]["device"] == "cpu" and report["qat"]["steps"] == 1
    assert any("QAT falls back to the CPU: nvcc not found" in r.getMessage() for r in caplog.records)


def test_a_lock_no_live_build_holds_is_cleared_and_a_held_one_is_left(tmp_path, caplog):
    from darkedge.quant.device import clear_stale_lock

    lock = tmp_path / "lock"
    assert not clear_stale_lock(tmp_path)  # no lock: nothing to do
    lock.write_text("")  # left by a build that was killed
    with caplog.at_level("WARNING"):
        assert clear_stale_lock(tmp_path)
    assert not lock.exists() and "interrupted build" in caplog.text
    fd = os.open(lock, os.O_CREAT | os.O_EXCL)  # a build in progress holds its lock open, as PyTorch's does
    try:
        assert not clear_stale_lock(tmp_path) and lock.exists()
    finally:
        os.close(fd)
        lock.unlink()


def test_where_no_one_can_tell_who_holds_the_lock_the_folder_to_remove_is_one_line(tmp_path, monkeypatch):
    device = device_module

    (tmp_path / "lock").write_text("")
    monkeypatch.setattr(device, "lock_holders", lambda lock: None)
    with pytest.raises(DarkedgeError, match=f"remove {tmp_path}"):
        device.clear_stale_lock(tmp_path)


def test_quantize_survives_a_stale_extension_lock(monkeypatch):
    """A lock left in NNCF's real build folder: the extension loads at once instead of waiting out NNCF's timeout."""
    from nncf.torch.quantization.extensions import QuantizedFunctionsCPU, QuantizedFunctionsCPULoader

    from darkedge.quant.device import prepare_extension

    lock = Path(QuantizedFunctionsCPULoader.get_build_dir()) / "lock"
    lock.write_text("")
    try:
        monkeypatch.setenv(
            "NNCF_EXTENSION_LOAD_TIMEOUT", "120"
        )  # NNCF raises after this; a first build is faster
        prepare_extension("cpu")
        assert not lock.exists()
        assert callable(QuantizedFunctionsCPU.get("Quantize_forward"))
    finally:
        lock.unlink(missing_ok=True)
