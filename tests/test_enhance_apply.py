"""`darkedge enhance apply` on OpenVINO and ONNX Runtime: the same frames as PyTorch, on real decoded video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from darkedge.cli import main
from darkedge.data.video import count_frames, read_frames
from darkedge.data.writer import write_video
from darkedge.enhance import EnhancerConfig, build_enhancer, load_enhancer
from darkedge.enhance.frames import FrameEnhancer
from darkedge.errors import DarkedgeError


def dark_video(path, n: int = 6, seed: int = 0):
    """A real video of dark textured frames (MJPG), 40 x 32."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 50, (32, 40, 3))
    frames = np.stack([np.clip(base + rng.integers(-4, 5, base.shape), 0, 255) for _ in range(n)])
    write_video(path, frames.astype(np.uint8), fps=10)
    return path


def trained_like(name: str, scale_factor: float = 1) -> torch.nn.Module:
    """An enhancer with weights large enough to move pixels (a fresh init's curves are near zero)."""
    model = build_enhancer(EnhancerConfig(name=name, scale_factor=scale_factor))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    return model.eval()


@pytest.mark.parametrize(
    ("name", "scale", "backend"),
    [
        ("zero_dce", 1, "openvino"),
        ("zero_dce", 1, "onnxruntime"),
        ("zero_dce_pp", 2, "openvino"),
        ("gamma", 1, "openvino"),
    ],
)
def test_backends_match_pytorch_on_decoded_frames(tmp_path, name, scale, backend):
    frames = read_frames(dark_video(tmp_path / "night.avi"), range(6))
    model = trained_like(name, scale)
    torch_frames = np.stack([FrameEnhancer(model, "torch")(f) for f in frames])
    runtime = FrameEnhancer(model, backend)
    other = np.stack([runtime(f) for f in frames])
    assert other.dtype == np.uint8 and other.shape == frames.shape
    difference = np.abs(other.astype(int) - torch_frames)
    assert difference.max() <= 1 and difference.mean() < 0.01  # float rounding at most, rarely
    assert np.abs(torch_frames.astype(int) - frames).mean() > 2  # the enhancer really changed them


def test_cli_openvino_by_default_with_a_public_checkpoint(tmp_path):
    """A public-layout Zero-DCE .pth, a video: OpenVINO's output file matches the PyTorch backend's."""
    public = tmp_path / "Epoch99.pth"
    torch.save(trained_like("zero_dce").state_dict(), public)
    source = dark_video(tmp_path / "night.avi", n=8)
    outputs = {}
    for backend in ("openvino", "torch"):
        out = tmp_path / f"night_{backend}.avi"
        args = ["enhance", "apply", str(source), "--enhancer", str(public), "--out", str(out)]
        result = CliRunner().invoke(main, [*args] + (["--backend", backend] if backend == "torch" else []))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"wrote {out}"
        assert "frame/s" in result.output  # the progress bar: frames per second and time left
        outputs[backend] = read_frames(out, range(count_frames(out))).astype(int)
    assert outputs["openvino"].shape == (8, 32, 40, 3)
    assert np.abs(outputs["openvino"] - outputs["torch"]).mean() < 0.5  # MJPG of nearly identical frames
    with torch.no_grad():
        expected = FrameEnhancer(load_enhancer(public), "torch")(read_frames(source, [0])[0])
    assert abs(outputs["openvino"][0].mean() - expected.mean()) < 1


def test_unknown_backend_is_one_line():
    with pytest.raises(
        DarkedgeError, match="--backend tensorrt: expected one of openvino, onnxruntime, torch"
    ):
        FrameEnhancer(build_enhancer(EnhancerConfig(name="zero_dce")), "tensorrt")
