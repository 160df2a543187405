"""Enhancers: Zero-DCE / Zero-DCE++ against an independent reference forward, loading public and darkedge files,
refusing bad files, gamma correction, and every zero-reference loss on hand-computed values."""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from darkedge.checkpoint import save_checkpoint
from darkedge.enhance import EnhancerConfig, build_enhancer, load_enhancer
from darkedge.enhance.gamma import GammaCorrection
from darkedge.enhance.losses import (
    colour_constancy,
    exposure_control,
    illumination_smoothness,
    spatial_consistency,
    zero_reference_loss,
)
from darkedge.enhance.zero_dce import ZeroDCE
from darkedge.enhance.zero_dce_pp import ZeroDCEPP
from darkedge.errors import DarkedgeError

# (in, out) channels of e_conv1..e_conv7 in the public releases.
CONV_CHANNELS = [(3, 32), (32, 32), (32, 32), (32, 32), (64, 32), (64, 32), (64, 24)]
CONV_CHANNELS_PP = CONV_CHANNELS[:-1] + [(64, 3)]


def public_zero_dce_state(scale: float = 0.15) -> dict[str, torch.Tensor]:
    """Random weights in the public Zero-DCE layout, written out key by key."""
    state = {}
    for n, (cin, cout) in enumerate(CONV_CHANNELS, 1):
        state[f"e_conv{n}.weight"] = torch.randn(cout, cin, 3, 3) * scale
        state[f"e_conv{n}.bias"] = torch.randn(cout) * scale
    return state


def public_zero_dce_pp_state(scale: float = 0.3) -> dict[str, torch.Tensor]:
    """Random weights in the public Zero-DCE++ layout (depthwise 3x3 then pointwise 1x1 per layer)."""
    state = {}
    for n, (cin, cout) in enumerate(CONV_CHANNELS_PP, 1):
        state[f"e_conv{n}.depth_conv.weight"] = torch.randn(cin, 1, 3, 3) * scale
        state[f"e_conv{n}.depth_conv.bias"] = torch.randn(cin) * scale
        state[f"e_conv{n}.point_conv.weight"] = torch.randn(cout, cin, 1, 1) * scale
        state[f"e_conv{n}.point_conv.bias"] = torch.randn(cout) * scale
    return state


def reference_zero_dce(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The public Zero-DCE forward, written with plain conv2d calls on the state dict."""

    def conv(n, inp):
        return F.conv2d(inp, sd[f"e_conv{n}.weight"], sd[f"e_conv{n}.bias"], stride=1, padding=1)

    x1 = torch.relu(conv(1, x))
    x2 = torch.relu(conv(2, x1))
    x3 = torch.relu(conv(3, x2))
    x4 = torch.relu(conv(4, x3))
    x5 = torch.relu(conv(5, torch.cat([x3, x4], 1)))
    x6 = torch.relu(conv(6, torch.cat([x2, x5], 1)))
    r = torch.tanh(conv(7, torch.cat([x1, x6], 1)))
    for i in range(8):
        r_i = r[:, 3 * i : 3 * i + 3]
        x = x + r_i * (torch.pow(x, 2) - x)
    return x


def reference_zero_dce_pp(sd: dict[str, torch.Tensor], x: torch.Tensor, scale_factor: int) -> torch.Tensor:
    """The public Zero-DCE++ forward: curve on the downscaled image, upsampled with aligned corners."""

    def conv(n, inp):
        depth = F.conv2d(
            inp,
            sd[f"e_conv{n}.depth_conv.weight"],
            sd[f"e_conv{n}.depth_conv.bias"],
            padding=1,
            groups=inp.shape[1],
        )
        return F.conv2d(depth, sd[f"e_conv{n}.point_conv.weight"], sd[f"e_conv{n}.point_conv.bias"])

    x_down = x if scale_factor == 1 else F.interpolate(x, scale_factor=1 / scale_factor, mode="bilinear")
    x1 = torch.relu(conv(1, x_down))
    x2 = torch.relu(conv(2, x1))
    x3 = torch.relu(conv(3, x2))
    x4 = torch.relu(conv(4, x3))
    x5 = torch.relu(conv(5, torch.cat([x3, x4], 1)))
    x6 = torch.relu(conv(6, torch.cat([x2, x5], 1)))
    r = torch.tanh(conv(7, torch.cat([x1, x6], 1)))
    if scale_factor != 1:
        r = torch.nn.UpsamplingBilinear2d(scale_factor=scale_factor)(r)
    for _ in range(8):
        x = x + r * (torch.pow(x, 2) - x)
    return x


def test_parameter_counts():
    assert sum(p.numel() for p in ZeroDCE().parameters()) == 79_416
    assert sum(p.numel() for p in ZeroDCEPP().parameters()) == 10_561
    assert list(GammaCorrection().parameters()) == []


@pytest.mark.parametrize("prefix", ["", "module."])
def test_public_zero_dce_file_computes_the_reference_forward(tmp_path, prefix):
    state = public_zero_dce_state()
    path = tmp_path / "Epoch99.pth"
    torch.save({prefix + k: v for k, v in state.items()}, path)
    model = load_enhancer(path)
    assert isinstance(model, ZeroDCE)
    x = torch.rand(2, 3, 20, 28) * 0.3
    expected = reference_zero_dce(state, x)
    out = model(x)
    assert out.shape == x.shape
    assert (out - x).abs().max() > 1e-2  # the curves really changed the image
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    enhanced, curves = model.enhance_with_curves(x)
    assert curves.shape == (2, 24, 20, 28)
    torch.testing.assert_close(enhanced, out)


@pytest.mark.parametrize("scale_factor", [1, 4])
def test_public_zero_dce_pp_file_computes_the_reference_forward(tmp_path, scale_factor):
    state = public_zero_dce_pp_state()
    path = tmp_path / "Epoch99.pth"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    model = load_enhancer(path, scale_factor=scale_factor)
    assert isinstance(model, ZeroDCEPP)
    x = torch.rand(2, 3, 36, 48) * 0.3
    out = model(x)
    assert (out - x).abs().max() > 1e-2
    torch.testing.assert_close(out, reference_zero_dce_pp(state, x, scale_factor), rtol=1e-5, atol=1e-5)
    assert model.enhance_with_curves(x)[1].shape == (2, 3, 36, 48)


def test_output_is_not_clamped():
    model = ZeroDCE()
    with torch.no_grad():
        model.e_conv7.bias.fill_(10.0)  # tanh -> 1 everywhere: each iteration gives x^2
    x = torch.full((1, 3, 8, 8), 1.05)  # out of range on purpose: 1.05^(2^8), not clamped to 1
    torch.testing.assert_close(model(x), x ** (2**8), rtol=1e-4, atol=0)


def test_darkedge_checkpoint_round_trip(tmp_path):
    cfg = EnhancerConfig(name="zero_dce_pp", scale_factor=2)
    model = build_enhancer(cfg)
    path = tmp_path / "enhancer.pt"
    save_checkpoint(path, kind="enhancer", config=asdict(cfg), state_dict=model.state_dict())
    loaded = load_enhancer(path)
    assert isinstance(loaded, ZeroDCEPP) and loaded.scale_factor == 2
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model(x))


def test_gamma_checkpoint_and_convention(tmp_path):
    path = tmp_path / "gamma.pt"
    save_checkpoint(
        path, kind="enhancer", config=asdict(EnhancerConfig(name="gamma", gamma=2.0)), state_dict={}
    )
    gamma = load_enhancer(path)
    x = torch.tensor([0.0, 0.04, 0.25, 1.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    torch.testing.assert_close(gamma(x)[0, 0].flatten(), torch.tensor([0.0, 0.2, 0.5, 1.0]))


def test_unknown_enhancer_name():
    with pytest.raises(DarkedgeError, match="enhancer 'retinex': unknown"):
        build_enhancer(EnhancerConfig(name="retinex"))


class _RunsCode:
    """Unpickling this object runs a shell command: the marker file appears only if loading is unsafe."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"e_conv1.weight": _RunsCode(marker)}, path)
    with pytest.raises(DarkedgeError) as info:
        load_enhancer(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "refused" in message
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the file really is dangerous: an unsafe load runs the command
    assert marker.exists()


def _error(path) -> str:
    with pytest.raises(DarkedgeError) as info:
        load_enhancer(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_wrong_layout_is_refused_naming_the_key(tmp_path):
    state = public_zero_dce_state()
    renamed = tmp_path / "renamed.pth"
    torch.save({k.replace("e_conv", "conv"): v for k, v in state.items()}, renamed)
    assert "missing key 'e_conv1.weight'" in _error(renamed)

    extra = tmp_path / "extra.pth"
    torch.save({**state, "e_conv8.weight": torch.zeros(1)}, extra)
    assert "unexpected key 'e_conv8.weight'" in _error(extra)

    wrong_shape = tmp_path / "shape.pth"
    torch.save(
        {**state, "e_conv7.weight": torch.zeros(3, 64, 3, 3), "e_conv7.bias": torch.zeros(3)}, wrong_shape
    )
    assert "'e_conv7.weight' has shape (3, 64, 3, 3), expected (24, 64, 3, 3)" in _error(wrong_shape)


def test_other_bad_files_are_refused(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(public_zero_dce_state(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:1000])
    assert "unreadable" in _error(truncated)
    assert "no such file" in _error(tmp_path / "missing.pth")
    not_weights = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_weights)
    assert "neither a darkedge enhancer checkpoint nor a Zero-DCE state dict" in _error(not_weights)
    classifier = tmp_path / "student.pt"
    save_checkpoint(classifier, kind="classifier", config={}, state_dict={})
    assert "expected 'enhancer'" in _error(classifier)
    odd_config = tmp_path / "odd.pt"
    save_checkpoint(odd_config, kind="enhancer", config={"name": "zero_dce", "depth": 9}, state_dict={})
    assert "enhancer config ['depth', 'name'] is not an EnhancerConfig" in _error(odd_config)


# --- losses, on values computed by hand ---


def test_illumination_smoothness_by_hand():
    curves = torch.zeros(1, 3, 2, 2)
    curves[0, 0] = torch.tensor(
        [[0.0, 1.0], [2.0, 4.0]]
    )  # grad_x = 1, grad_y = 2 at the one pixel -> (1+2)^2
    assert illumination_smoothness(curves).item() == pytest.approx(9.0)
    two_maps = torch.cat([curves, torch.zeros(1, 3, 2, 2)], dim=1)  # N = 2 curve maps: averaged over them
    assert illumination_smoothness(two_maps).item() == pytest.approx(4.5)
    assert illumination_smoothness(torch.full((2, 24, 5, 5), 0.3)).item() == 0.0


def test_spatial_consistency_by_hand():
    # Two 4x4 regions side by side: raw intensities 0.1 | 0.3, enhanced 0.5 (channel mean of .4 .5 .6) | 0.2.
    raw = torch.cat([torch.full((1, 3, 4, 4), 0.1), torch.full((1, 3, 4, 4), 0.3)], dim=3)
    left = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    enhanced = torch.cat([left, torch.full((1, 3, 4, 4), 0.2)], dim=3)
    # One pair counted from both regions, K = 2: 2 * (|0.5 - 0.2| - |0.1 - 0.3|)^2 / 2 = 0.01.
    assert spatial_consistency(raw, enhanced).item() == pytest.approx(0.01)
    # 2x2 regions, raw flat, one enhanced corner at 0.4: pairs right and below, each (0.4)^2, twice, K = 4.
    enhanced = torch.zeros(1, 3, 8, 8)
    enhanced[..., :4, :4] = 0.4
    assert spatial_consistency(torch.zeros(1, 3, 8, 8), enhanced).item() == pytest.approx(2 * 2 * 0.16 / 4)
    # Contrast preserved up to sign is consistent: the paper compares absolute differences.
    assert spatial_consistency(raw, raw.flip(3)).item() == pytest.approx(0.0)


def test_colour_constancy_by_hand():
    coloured = torch.tensor([0.5, 0.3, 0.2]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    grey = torch.full((1, 3, 4, 4), 0.7)
    # (0.2)^2 + (0.3)^2 + (0.1)^2 = 0.14 for the first image, 0 for the grey one, averaged over the batch.
    assert colour_constancy(torch.cat([coloured, grey])).item() == pytest.approx(0.07)


def test_exposure_control_by_hand():
    # Two 16x16 patches: intensity 0.2 and 0.9 (channel mean of 0.8, 0.9, 1.0) -> (0.4 + 0.3) / 2.
    bright = torch.tensor([0.8, 0.9, 1.0]).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    image = torch.cat([torch.full((1, 3, 16, 16), 0.2), bright], dim=3)
    assert exposure_control(image).item() == pytest.approx(0.35, rel=1e-5)
    assert exposure_control(torch.full((1, 3, 32, 32), 0.6)).item() == pytest.approx(0.0, abs=1e-6)


def test_total_loss_weights_by_hand():
    curves = torch.zeros(1, 3, 2, 2)
    curves[0, 0] = torch.tensor([[0.0, 1.0], [2.0, 4.0]])  # smoothness 9
    enhanced = (
        torch.tensor([0.9, 0.8, 0.7]).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    )  # colour 0.06, exposure 0.2
    terms = zero_reference_loss(torch.zeros(1, 3, 16, 16), enhanced, curves)  # spatial 0: both images flat
    assert terms["spatial"].item() == pytest.approx(0.0)
    assert terms["total"].item() == pytest.approx(200 * 9 + 5 * 0.06 + 10 * 0.2)
