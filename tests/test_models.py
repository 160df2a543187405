"""Models: shapes for every kind, normalisation inside, training steps, checkpoints, MAC counts, ONNX export."""

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from helpers_model import classifier_config, timm_vit_shapes

from darkedge.checkpoint import save_checkpoint
from darkedge.errors import DarkedgeError
from darkedge.models import (
    ClassifierConfig,
    build_model,
    count_macs,
    count_parameters,
    load_model,
    model_input_shape,
)
from darkedge.names import MODEL_KINDS as KINDS

ENHANCER = {"name": "zero_dce", "scale_factor": 1, "gamma": 1.8}


def tiny(encoder="vit_nano", **overrides):
    """A classifier config small enough for a test: 4 frames of 16 x 16 px, 3 classes."""
    fields = dict(encoder=encoder, num_classes=3, num_frames=4, img_size=16, dropout=0.0)
    return dataclasses.asdict(classifier_config(**{**fields, **overrides}))


def config_for(kind, classifier):
    return classifier if kind == "classifier" else {"enhancer": ENHANCER, "classifier": classifier}


@pytest.mark.parametrize("encoder", ["vit_nano", "r2plus1d_nano"])
@pytest.mark.parametrize("head", ["bert", "mean"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_logits(kind, head, encoder):
    model = build_model(kind, config_for(kind, tiny(encoder, head=head, num_frames=8)))
    logits = model(torch.rand(2, 3, 8, 16, 16))
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()
    assert model.features(torch.rand(2, 3, 8, 16, 16)).ndim == 2


def test_r2plus1d_gives_one_token_per_eight_frames():
    model = build_model("classifier", tiny("r2plus1d_nano", num_frames=16))
    tokens = model.backbone.encoder(torch.rand(1, 3, 16, 16, 16))
    assert tokens.shape == (1, 2, 64)
    assert model.backbone.head.pos_embed.shape == (1, 3, 64)  # CLS + 2 time steps


def test_normalisation_lives_inside_the_model():
    plain = build_model("classifier", tiny())
    shifted = build_model("classifier", tiny(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]))
    shifted.load_state_dict(plain.state_dict())
    plain.eval(), shifted.eval()
    clip = torch.rand(2, 3, 4, 16, 16)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    # The clip that `shifted` normalises to the same values `plain` sees for `clip`.
    same = ((clip - mean.view(1, 3, 1, 1, 1)) / std.view(1, 3, 1, 1, 1)) * 0.25 + 0.5
    torch.testing.assert_close(shifted(same), plain(clip), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(shifted(clip), plain(clip))


def test_clip_normalisation_sees_a_dark_clip_as_its_bright_original():
    """input_norm "clip": a clip and the same clip at a fifth of the exposure (plus an offset) give the same
    logits; with fixed constants they do not."""
    clip = torch.rand(2, 3, 4, 16, 16)
    dark = 0.2 * clip + 0.01
    per_clip = build_model("classifier", tiny("r2plus1d_nano", input_norm="clip")).eval()
    torch.testing.assert_close(per_clip(dark), per_clip(clip), rtol=0.02, atol=0.01)  # eps: 1e-3 of std 0.06
    fixed = build_model("classifier", tiny("r2plus1d_nano")).eval()
    assert not torch.allclose(fixed(dark), fixed(clip), atol=0.05)
    with pytest.raises(DarkedgeError, match="input_norm"):
        classifier_config(input_norm="auto")


def timm_state_dict():
    """Random tensors under timm VisionTransformer names for a dim-32, 1-block, patch-8 ViT at 224 px."""
    return {k: torch.randn(shape) for k, shape in timm_vit_shapes(dim=32, depth=1, patch=8).items()}


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_timm_vit_checkpoint_loads_with_interpolated_pos_embed(tmp_path, suffix):
    state = timm_state_dict()
    path = tmp_path / f"vit{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    model = build_model("classifier", tiny(img_size=112, pretrained=str(path)))
    vit = model.backbone.encoder
    torch.testing.assert_close(vit.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(vit.patch_embed.proj.weight, state["patch_embed.proj.weight"])
    assert vit.pos_embed.shape == (1, 1 + 14 * 14, 32)
    torch.testing.assert_close(vit.pos_embed[:, 0], state["pos_embed"][:, 0])
    grid = state["pos_embed"][0, 1:].reshape(28, 28, 32).permute(2, 0, 1)[None]
    expected = F.interpolate(grid, size=(14, 14), mode="bicubic", align_corners=False)
    torch.testing.assert_close(vit.pos_embed[0, 1:], expected[0].permute(1, 2, 0).reshape(196, 32))
    assert model(torch.rand(1, 3, 4, 112, 112)).shape == (1, 3)


def test_vit_checkpoint_of_another_shape_fails_in_one_line(tmp_path):
    state = timm_state_dict()
    state["patch_embed.proj.weight"] = torch.randn(32, 3, 16, 16)
    del state["norm.bias"]
    torch.save(state, tmp_path / "vit.pth")
    with pytest.raises(DarkedgeError) as err:
        build_model("classifier", tiny(pretrained=str(tmp_path / "vit.pth")))
    message = str(err.value)
    assert "\n" not in message and "vit.pth" in message
    assert "norm.bias" in message and "patch_embed.proj.weight" in message


def test_r2plus1d_names_and_shapes_follow_the_public_layouts():
    r18 = build_model("classifier", tiny("r2plus1d_18")).backbone.encoder.state_dict()
    r34 = build_model("classifier", tiny("r2plus1d_34")).backbone.encoder.state_dict()
    for state in (r18, r34):
        assert state["stem.0.weight"].shape == (45, 3, 1, 7, 7)
        assert state["stem.3.weight"].shape == (64, 45, 3, 1, 1)
        assert state["layer1.0.conv1.0.0.weight"].shape == (144, 64, 1, 3, 3)
        assert state["layer1.0.conv1.0.3.weight"].shape == (64, 144, 3, 1, 1)
        assert state["layer2.0.conv1.0.0.weight"].shape == (230, 64, 1, 3, 3)
        assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1, 1)
        assert state["layer4.1.conv2.1.running_var"].shape == (512,)
    # torchvision reuses the block's first midplanes; the Caffe2-converted IG65M model does not.
    assert r18["layer2.0.conv2.0.0.weight"].shape == (230, 128, 1, 3, 3)
    assert r34["layer2.0.conv2.0.0.weight"].shape == (288, 128, 1, 3, 3)
    assert r34["layer4.0.conv2.0.0.weight"].shape == (1152, 512, 1, 3, 3)
    assert "layer3.5.conv2.1.weight" in r34 and "layer3.2.conv1.0.0.weight" not in r18
    # torchvision's r2plus1d_18 has 31,505,325 parameters with its 400-class fc (512 * 400 + 400).
    r18_params = sum(
        v.numel() for k, v in r18.items() if not k.endswith(("running_mean", "running_var", "tracked"))
    )
    assert r18_params == 31_505_325 - (512 * 400 + 400)


def test_ig65m_layout_checkpoint_loads(tmp_path):
    own = build_model("classifier", tiny("r2plus1d_nano")).backbone.encoder.state_dict()
    state = {k: torch.randn(v.shape) if v.is_floating_point() else v for k, v in own.items()}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # some files lack it
    state["fc.weight"], state["fc.bias"] = torch.randn(359, 64), torch.randn(359)
    torch.save(state, tmp_path / "r2plus1d.pth")
    model = build_model("classifier", tiny("r2plus1d_nano", pretrained=str(tmp_path / "r2plus1d.pth")))
    loaded = model.backbone.encoder.state_dict()
    torch.testing.assert_close(loaded["stem.0.weight"], state["stem.0.weight"])
    torch.testing.assert_close(loaded["layer4.0.conv2.0.3.weight"], state["layer4.0.conv2.0.3.weight"])
    torch.testing.assert_close(
        loaded["layer3.0.downsample.1.running_mean"], state["layer3.0.downsample.1.running_mean"]
    )


def fixed_batch():
    """Six dim clips whose class is told by the colour of a brighter top-left square."""
    generator = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    clips = torch.rand(6, 3, 4, 16, 16, generator=generator) * 0.1
    for i, label in enumerate(labels.tolist()):
        clips[i, label, :, :8, :8] += 0.5
    return clips, labels


@pytest.mark.parametrize(
    ("kind", "head"),
    [
        ("classifier", "bert"),
        ("classifier", "mean"),
        ("teacher", "bert"),
        ("two_stream", "bert"),
        ("dtcm", "bert"),
    ],
)
def test_a_few_adamw_steps_lower_the_loss(kind, head):
    model = build_model(kind, config_for(kind, tiny(head=head))).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    clips, labels = fixed_batch()
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.7 * losses[0], losses


@pytest.mark.parametrize("kind", ["teacher", "two_stream", "dtcm"])
def test_enhancer_learns_only_in_dtcm(kind):
    model = build_model(kind, config_for(kind, tiny())).train()
    clips, labels = fixed_batch()
    F.cross_entropy(model(clips), labels).backward()
    grads = [p.grad for p in model.enhancer.parameters()]
    assert grads
    if kind == "dtcm":
        assert model.enhancer.training
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    else:
        assert not model.enhancer.training
        assert all(g is None for g in grads)
        assert all(not p.requires_grad for p in model.enhancer.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_gives_identical_logits(tmp_path, kind):
    config = config_for(kind, tiny())
    model = build_model(kind, config).eval()
    path = save_checkpoint(tmp_path / "m.pt", kind=kind, config=config, state_dict=model.state_dict())
    loaded, ckpt = load_model(path)
    assert ckpt["kind"] == kind and not loaded.training
    clip = torch.rand(2, 3, 4, 16, 16)
    torch.testing.assert_close(loaded(clip), model(clip), rtol=0, atol=0)
    assert model_input_shape(ckpt) == (3, 4, 16, 16)


@pytest.mark.parametrize(
    ("config", "expect", "needle"),
    [
        (tiny(num_classes=5), None, "fc.weight"),
        (tiny("r2plus1d_nano"), None, "missing"),
        (tiny(), {"num_classes": 11}, "num_classes=3, expected 11"),
        ({**tiny(), "encoder": "vit_huge"}, None, "unknown encoder 'vit_huge'"),
    ],
)
def test_load_model_refuses_a_mismatch_in_one_line(tmp_path, config, expect, needle):
    state = build_model("classifier", tiny()).state_dict()
    path = save_checkpoint(tmp_path / "m.pt", kind="classifier", config=config, state_dict=state)
    with pytest.raises(DarkedgeError) as err:
        load_model(path, expect=expect)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)) and needle in message


def test_bad_configs_fail_in_one_line():
    with pytest.raises(DarkedgeError, match="unknown fields colour"):
        build_model("classifier", {**tiny(), "colour": "red"})
    with pytest.raises(DarkedgeError, match="bad 'enhancer' section"):
        build_model("teacher", {"enhancer": {"name": "zero_dce", "bogus": 1}, "classifier": tiny()})
    with pytest.raises(DarkedgeError, match="needs 'enhancer' and 'classifier'"):
        build_model("two_stream", tiny())
    with pytest.raises(DarkedgeError, match="unknown head 'lstm'"):
        build_model("classifier", {**tiny(), "head": "lstm"})


def test_model_input_shape_reads_every_config_form():
    cfg = classifier_config(num_frames=16, img_size=64)
    nested = {"enhancer": ENHANCER, "classifier": dataclasses.asdict(cfg)}
    assert (
        model_input_shape(cfg)
        == model_input_shape(nested)
        == model_input_shape({"config": nested, "state_dict": {}})
    )
    assert model_input_shape(cfg) == (3, 16, 64, 64)


def test_load_model_refuses_another_kind(tmp_path):
    config = tiny()
    path = save_checkpoint(tmp_path / "m.pt", kind="classifier", config=config, state_dict={})
    with pytest.raises(DarkedgeError, match="expected 'teacher'"):
        load_model(path, kind="teacher")


def test_count_macs_matches_a_hand_count():
    clips, frames, size, dim, classes = 2, 4, 16, 32, 3
    patches, tokens = (size // 8) ** 2, (size // 8) ** 2 + 1
    n = clips * frames

    def block(n, t):  # qkv + attention (scores and values) + proj + MLP, for n sequences of t tokens
        return n * (t * dim * 3 * dim + 2 * t * t * dim + t * dim * dim + 2 * t * dim * 4 * dim)

    vit = n * patches * dim * 3 * 8 * 8 + block(n, tokens)
    mean_model = build_model("classifier", tiny(head="mean"))
    assert count_macs(mean_model, (clips, 3, frames, size, size)) == vit + clips * dim * classes
    bert_model = build_model("classifier", tiny(head="bert", head_depth=2))
    expected = vit + 2 * block(clips, frames + 1) + clips * dim * classes
    assert count_macs(bert_model, (clips, 3, frames, size, size)) == expected
    # patch conv + CLS + 5 position embeddings + block (2 norms, qkv, proj, fc1, fc2) + final norm + fc
    block_params = (
        2 * 2 * dim
        + (dim * 3 * dim + 3 * dim)
        + (dim * dim + dim)
        + (dim * 4 * dim + 4 * dim)
        + (4 * dim * dim + dim)
    )
    expected_params = (
        (3 * 64 * dim + dim) + dim + 5 * dim + block_params + 2 * dim + (dim * classes + classes)
    )
    assert count_parameters(mean_model) == expected_params == 19_235


@pytest.mark.parametrize("input_norm", ["fixed", "clip"])
def test_onnx_export_matches_torch(tmp_path, input_norm):
    model = build_model("classifier", tiny(input_norm=input_norm)).eval()
    clip = torch.rand(2, 3, 4, 16, 16)
    path = tmp_path / "nano.onnx"
    torch.onnx.export(
        model,
        (clip,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["clip"],
        output_names=["logits"],
        dynamic_axes={"clip": {0: "batch"}, "logits": {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other = torch.rand(3, 3, 4, 16, 16)
    for x in (clip, other):
        (logits,) = session.run(None, {"clip": x.numpy()})
        np.testing.assert_allclose(logits, model(x).detach().numpy(), atol=1e-4, rtol=1e-4)


def test_a_checkpoint_config_is_read_with_the_fields_it_predates():
    """input_norm, width and freeze_blocks came later: an older checkpoint's model was fixed, 1.0 and 0; a config
    missing a field the model needs is one line naming it."""
    saved = {k: v for k, v in tiny().items() if k not in ("input_norm", "width", "freeze_blocks")}
    cfg = ClassifierConfig.from_dict(saved)
    assert (cfg.input_norm, cfg.width, cfg.freeze_blocks) == ("fixed", 1.0, 0)
    with pytest.raises(DarkedgeError, match="classifier config: missing fields encoder, head$"):
        ClassifierConfig.from_dict({k: v for k, v in saved.items() if k not in ("encoder", "head")})
