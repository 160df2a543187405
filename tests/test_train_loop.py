"""The training loop on real clips: optimisation lowers the loss for every model, evaluation averages views,
and a run killed mid-epoch resumes to bit-identical weights and metrics."""

import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from darkedge.checkpoint import load_checkpoint
from darkedge.config import make_config
from darkedge.data.dataset import ClipDataset
from darkedge.data.lists import open_dataset
from darkedge.data.loader import make_loader
from darkedge.data.synth import SynthConfig, synthesize
from darkedge.enhance import EnhancerConfig
from darkedge.factory import classifier_config
from darkedge.models import build_model
from darkedge.run import open_run
from darkedge.train.command import train
from darkedge.train.engine import Tally, train_epoch, warn_if_starved
from darkedge.train.evaluate import accuracy_metrics, predict
from darkedge.train.stage import fit

TINY = SynthConfig(clips_per_class=3, frames=12, width=48, height=36, scenes=3, test_scenes=1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return synthesize(TINY, tmp_path_factory.mktemp("data") / "synth", workers=1, progress=False)


@pytest.fixture(scope="module")
def tiny_bright(tmp_path_factory) -> Path:
    """The same clips before darkening: an optimiser fits them in a few dozen steps (dark ones take far more)."""
    cfg = replace(TINY, darkness=0.0)
    return synthesize(cfg, tmp_path_factory.mktemp("data") / "bright", workers=1, progress=False)


def _mean_loss(model, dataset, teacher=None) -> float:
    """The training objective of `model` in eval mode over every clip of `dataset`: cross-entropy, plus the KL
    to `teacher` when there is one (alpha = beta = tau = 1, as the test preset trains)."""
    logits, labels, _ = predict(model, dataset, batch_size=16)
    loss = F.cross_entropy(logits, labels).item()
    if teacher is None:
        return loss
    target, _, _ = predict(teacher, dataset, batch_size=16)
    return (
        loss
        + F.kl_div(
            logits.log_softmax(1), target.log_softmax(1), reduction="batchmean", log_target=True
        ).item()
    )


@pytest.mark.parametrize("kind", ["classifier", "teacher", "two_stream", "student"])
def test_training_lowers_the_loss(kind, tiny_bright, tmp_path):
    # the same fixed clips (no augmentation) to train on and to measure the loss on: an optimiser must fit them
    cfg = make_config("test", data=str(tiny_bright), epochs=40, batch_size=22, lr=2e-3, dropout=0.0)
    index = open_dataset(tiny_bright, "train")
    fixed = ClipDataset(index, cfg.feeding("teacher"))
    config = classifier_config(cfg, len(index.class_names), "student")
    teacher = None
    if kind in ("teacher", "two_stream"):
        # gamma correction stands in for Zero-DCE here: the enhancer is frozen either way, and 10x cheaper
        config = {"enhancer": asdict(EnhancerConfig(name="gamma")), "classifier": config}
    model = build_model("classifier" if kind == "student" else kind, config)
    if kind == "student":
        teacher = build_model("classifier", config).eval()
    before = _mean_loss(model, fixed, teacher)
    protocol = {
        "clips": 1,
        "crops": 1,
        "frames": cfg.num_frames,
        "frame_step": cfg.frame_step,
        "size": cfg.crop,
    }
    metrics = fit(
        model, stage=kind, kind="classifier" if kind == "student" else kind, model_config=config,
        train_set=fixed, eval_set=fixed, class_names=index.class_names, protocol=protocol, cfg=cfg,
        run_dir=tmp_path, teacher=teacher,
    )  # fmt: skip
    after = _mean_loss(model, fixed, teacher)
    assert after < before * 0.9, (before, after)
    assert len(metrics["history"]) == 40
    assert load_checkpoint(tmp_path / f"{kind}.pt")["kind"] == ("classifier" if kind == "student" else kind)
    assert (tmp_path / kind / "history.json").is_file() and (tmp_path / kind / "confusion.png").is_file()
    assert not (tmp_path / kind / "resume.pt").exists()


def test_accuracy_metrics_by_hand():
    names = ["a", "b", "c", "d", "e", "f"]
    logits = torch.tensor(
        [
            [9.0, 1, 0, 0, 0, 0],  # true a, predicted a
            [-1.0, 9, 1, 0, 0, 0],  # true a, predicted b; a is 6th -> top-5 miss
            [0.0, 1, 9, 0, 0, 0.5],  # true c, predicted c
            [0.0, 5, 9, 0, 0, 0],  # true b, predicted c; b second -> top-5 hit
        ]
    )
    labels = torch.tensor([0, 0, 2, 1])
    m = accuracy_metrics(logits, labels, names)
    assert m["top1"] == 50.0 and m["top5"] == 75.0
    assert m["per_class"] == {"a": 50.0, "b": 0.0, "c": 100.0, "d": None, "e": None, "f": None}
    assert (
        m["confusion"][0][:3] == [1, 1, 0]
        and m["confusion"][1][:3] == [0, 0, 1]
        and m["confusion"][2][2] == 1
    )


def test_multi_view_logits_are_averaged(tiny_data):
    cfg = make_config("test")
    index = open_dataset(tiny_data, "test")
    views = ClipDataset(index, cfg.feeding("teacher"), num_clips=2, num_crops=3)
    model = build_model("classifier", classifier_config(cfg, len(index.class_names), "student")).eval()
    logits, labels, skipped = predict(model, views, batch_size=4)
    clip, label = views[1]
    assert clip.shape == (6, 3, cfg.num_frames, cfg.crop, cfg.crop)
    with torch.no_grad():
        expected = model(clip).mean(0)
    torch.testing.assert_close(logits[1], expected, rtol=1e-5, atol=1e-5)
    assert len(labels) == len(index.samples) and labels[1] == label and skipped == 0


class _Killed(KeyboardInterrupt):
    """Stands for Ctrl-C / SIGINT arriving in the middle of an epoch."""


def test_resume_after_a_kill_mid_epoch_matches_an_uninterrupted_run(tiny_data, tmp_path, monkeypatch):
    common = dict(preset="test", data=str(tiny_data), epochs=2, stage="raw")
    full, _ = train(out=tmp_path / "full", **common)

    labelled = len(open_run(full).dataset("train", "raw", train=True))  # the validation clips left out
    steps_per_epoch = -(-labelled // make_config("test").batch_size)
    real_step, calls = torch.optim.AdamW.step, {"n": 0}

    def step_then_die(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == steps_per_epoch + 2:  # two steps into the second epoch
            raise _Killed
        return real_step(self, *args, **kwargs)

    def counting_step(self, *args, **kwargs):
        calls["n"] += 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_die)
    with pytest.raises(_Killed):
        train(out=tmp_path / "killed", **common)
    killed = tmp_path / "killed" / "latest"
    assert not (killed / "raw.pt").exists()
    assert load_checkpoint(killed / "raw" / "resume.pt", kind="resume")["extra"]["epoch"] == 1

    monkeypatch.setattr(torch.optim.AdamW, "step", counting_step)
    calls["n"] = 0
    resumed, _ = train(out=tmp_path / "killed", resume=True, stage="raw")
    assert calls["n"] == steps_per_epoch  # only the second epoch was trained again
    assert resumed.resolve() == killed.resolve()
    a, b = load_checkpoint(full / "raw.pt"), load_checkpoint(resumed / "raw.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for key in ("top1", "top5", "per_class", "confusion"):
        assert a["metrics"][key] == b["metrics"][key]
    drop = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "loader")} for e in h]  # noqa: E731
    history = lambda run: json.loads(open_run(run).path.joinpath("raw", "history.json").read_text())  # noqa: E731
    assert drop(history(full)) == drop(history(resumed))
    assert not (resumed / "raw" / "resume.pt").exists()


class _SlowClips(torch.utils.data.Dataset):
    """Eight random clips that each take `delay` seconds to 'decode'."""

    def __init__(self, delay: float):
        self.delay = delay

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        time.sleep(self.delay)
        return torch.rand(3, 2, 4, 4), i % 2


def _one_epoch(loader, device: str = "cpu"):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(96, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    settings = make_config("test")
    loss_fn = lambda logits, labels, _: F.cross_entropy(logits, labels)  # noqa: E731
    return train_epoch(model, model, loader, optimizer, scheduler, loss_fn, settings, desc="slow")


def test_the_epoch_counts_the_time_spent_waiting_for_data():
    delay = 0.03
    loader = make_loader(_SlowClips(delay), batch_size=2, workers=0, device="cpu")
    tally = _one_epoch(loader)
    assert tally.seen == 8 and tally.steps == 4
    # each batch's two clips sleep 2 x delay before it arrives: the first batch apart, the other three as waiting
    assert tally.first_batch_s >= 2 * delay and tally.data_s >= 3 * 2 * delay and tally.compute_s > 0
    stats = tally.loader_stats()
    assert stats["data_wait_s"] == round(tally.data_s, 3) and 0 < stats["wait_share"] < 1


def test_a_starved_accelerator_is_warned_about_once_per_loader(caplog):
    loader = make_loader(_SlowClips(0.0), batch_size=2, workers=0, device="cpu")
    starved, fed = Tally(data_s=3.0, compute_s=1.0), Tally(data_s=0.1, compute_s=1.0)
    with caplog.at_level(logging.WARNING, logger="darkedge"):
        warn_if_starved(loader, starved, "cpu", "teacher 1/12")  # a CPU waits on itself: no warning
        warn_if_starved(loader, fed, "cuda:0", "teacher 1/12")
        assert not caplog.records
        warn_if_starved(loader, starved, "cuda:0", "teacher 1/12")
        warn_if_starved(loader, starved, "cuda:0", "teacher 2/12")
    (record,) = caplog.records
    assert record.getMessage() == (
        "teacher 1/12: cuda:0 waited for data 75 % of the epoch with 0 DataLoader worker(s); "
        "give more with --workers N"
    )
