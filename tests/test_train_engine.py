"""The training engine against the loop it stands for, written out by hand: the same clips in the same order,
the same optimiser, schedule and seeds give the same weights, bit for bit (so the classifier stages and QAT,
which only configure it, train as a plain loop would)."""

import math

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from darkedge.config import make_config
from darkedge.data.dataset import ClipDataset, collate_clips
from darkedge.data.lists import open_dataset
from darkedge.factory import classifier_config
from darkedge.models import build_model
from darkedge.train.engine import Job, summary, train_model, warmup_cosine


def _reference(model, dataset, cfg):
    """The loop by hand: per epoch seeds and order from (seed, epoch), AdamW (no decay on 1-D tensors), linear
    warm-up then cosine per step, clipping, cross-entropy."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=cfg.seed)
    # the loader draws its workers' seeds from a generator of its own, never from the global RNG (dropout's)
    loader = DataLoader(
        dataset, cfg.batch_size, sampler=sampler, collate_fn=collate_clips, generator=torch.Generator()
    )
    per_epoch = math.ceil(len(loader) / cfg.accumulate)
    total, warmup = cfg.epochs * per_epoch, round(cfg.warmup_epochs * per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
    for epoch in range(cfg.epochs):
        torch.manual_seed((cfg.seed * 1_000_003 + epoch * 7919) % 2**31)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        model.train()
        for clips, labels, _ in loader:
            F.cross_entropy(model(clips), labels).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)


def test_the_engine_trains_exactly_as_the_plain_loop(tmp_path):
    from helpers_run import make_tiny_data

    data = make_tiny_data(tmp_path / "data")
    cfg = make_config("test", data=str(data), epochs=3, batch_size=4, warmup_epochs=1.0, workers=0)
    index = open_dataset(data, "train")
    config = classifier_config(cfg, len(index.class_names), "raw")
    torch.manual_seed(0)
    engine_model = build_model("classifier", config)
    torch.manual_seed(0)
    reference_model = build_model("classifier", config)

    def dataset():
        return ClipDataset(index, cfg.feeding("teacher"), train=True, seed=cfg.seed)

    job = Job("raw", engine_model, dataset(), lambda logits, labels, _: F.cross_entropy(logits, labels), cfg)
    history = train_model(job)
    _reference(reference_model, dataset(), cfg)
    for (name, a), b in zip(
        engine_model.state_dict().items(), reference_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert summary(history)["steps"] == 3 * math.ceil(len(index.samples) / 4) and len(history) == 3


def test_a_step_budget_ends_the_job_and_its_schedule_there(tmp_path):
    from helpers_run import make_tiny_data

    data = make_tiny_data(tmp_path / "data")
    cfg = make_config("test", data=str(data), epochs=100, max_steps=5, batch_size=4, workers=0)
    index = open_dataset(data, "train")
    model = build_model("classifier", classifier_config(cfg, len(index.class_names), "raw"))
    dataset = ClipDataset(index, cfg.feeding("teacher"), train=True)
    job = Job("raw", model, dataset, lambda logits, labels, _: F.cross_entropy(logits, labels), cfg)
    history = train_model(job)
    assert [e["steps"] for e in history] == [3, 2]  # 9 clips in batches of 4: 3 steps an epoch, 5 in all
