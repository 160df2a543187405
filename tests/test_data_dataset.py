"""ClipDataset on real videos: shapes, multi-view evaluation, seeded training views, DataLoader workers, and
skipping unreadable clips."""

import logging

import pytest
import torch
from helpers_video import write_frame_folder, write_textured_video
from torch.utils.data import DataLoader

import darkedge.data.loader as loader_module
from darkedge.data.dataset import ClipDataset, collate_clips
from darkedge.data.lists import open_dataset
from darkedge.data.loader import make_loader, resolve_workers
from darkedge.data.video import VideoError
from darkedge.feeding import Feeding


@pytest.fixture
def root(tmp_path):
    """A folder per class with three textured clips each, one shorter than T."""
    for label, name in enumerate(("sit", "stand")):
        for clip, frames in enumerate((24, 12, 30)):
            write_textured_video(
                tmp_path / name / f"{name}_{clip}.avi", num_frames=frames, seed=label * 10 + clip
            )
    return tmp_path


def test_evaluation_clip(root):
    dataset = ClipDataset(open_dataset(root), Feeding(16, 1, 32, 28))
    assert len(dataset) == 6 and dataset.class_names == ["sit", "stand"]
    clip, label = dataset[4]
    assert clip.shape == (3, 16, 28, 28) and clip.dtype == torch.float32 and label == 1
    assert float(clip.min()) >= 0.0 and float(clip.max()) <= 1.0 and float(clip.std()) > 0.01
    torch.testing.assert_close(dataset[4][0], clip)  # evaluation is deterministic


def test_multi_clip_multi_crop_views(root):
    dataset = ClipDataset(open_dataset(root), Feeding(8, 2, 32, 28), num_clips=2, num_crops=3)
    clip, _ = dataset[1]  # 12 frames: shorter than the 15 frames a clip spans, so both views wrap around
    assert clip.shape == (6, 3, 8, 28, 28)
    assert not torch.equal(clip[0], clip[3])  # the two clips start at different frames


def test_training_views_depend_on_seed_epoch_and_index(root):
    index = open_dataset(root)
    dataset = ClipDataset(index, Feeding(4, 2, 32, 16), train=True, seed=1)
    first = dataset[0][0]
    torch.testing.assert_close(dataset[0][0], first)
    torch.testing.assert_close(ClipDataset(index, Feeding(4, 2, 32, 16), train=True, seed=1)[0][0], first)
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0][0], first)
    other_seed = ClipDataset(index, Feeding(4, 2, 32, 16), train=True, seed=2)
    assert not torch.equal(other_seed[0][0], first)


def test_dataloader_with_two_workers_matches_one_process(root):
    dataset = ClipDataset(open_dataset(root), Feeding(16, 1, 32, 28), train=True, seed=3)
    dataset.set_epoch(2)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate_clips)
    batches = list(loader)
    clips = torch.cat([clips for clips, _, _ in batches])
    labels = torch.cat([labels for _, labels, _ in batches])
    assert clips.shape == (6, 3, 16, 28, 28) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert sum(skipped for _, _, skipped in batches) == 0
    torch.testing.assert_close(clips, torch.stack([dataset[i][0] for i in range(6)]))


def test_frame_list_frame_counts_are_used(tmp_path):
    write_frame_folder(tmp_path / "Drink" / "a", num_frames=5)
    (tmp_path / "list.txt").write_text("Drink/a 5 0\n")
    clip, label = ClipDataset(open_dataset(tmp_path / "list.txt"), Feeding(8, 1, 24, 16))[0]
    assert clip.shape == (3, 8, 16, 16) and label == 0


def add_unreadable_clip(root):
    (root / "sit" / "sit_9.avi").write_text("not a video")  # sorts last in class 0: sample 3


def test_unreadable_clip_raises_without_skip(root):
    add_unreadable_clip(root)
    dataset = ClipDataset(open_dataset(root), Feeding(4, 1, 32, 28))
    with pytest.raises(VideoError, match="sit_9.avi: cannot be opened as a video"):
        dataset[3]


def test_skip_unreadable_logs_once_and_returns_none(root, caplog):
    add_unreadable_clip(root)
    dataset = ClipDataset(open_dataset(root), Feeding(4, 1, 32, 28), skip_unreadable=True)
    with caplog.at_level(logging.WARNING, logger="darkedge.data.dataset"):
        assert dataset[3] is None and dataset[3] is None
    assert len(caplog.records) == 1
    assert "sit_9.avi" in caplog.text and "cannot be opened as a video" in caplog.text


def test_skip_unreadable_through_workers(root):
    add_unreadable_clip(root)
    dataset = ClipDataset(open_dataset(root), Feeding(4, 1, 32, 28), train=True, skip_unreadable=True)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate_clips)
    batches = list(loader)
    assert sum(len(labels) for _, labels, _ in batches) == 6
    assert sum(skipped for _, _, skipped in batches) == 1


def test_collate_all_skipped():
    assert collate_clips([None, None]) == (None, None, 2)


def test_persistent_workers_see_each_new_epoch(root):
    """Workers that live across epochs must still draw each epoch's crops and offsets (set_epoch reaches them)."""
    dataset = ClipDataset(open_dataset(root), Feeding(8, 2, 32, 28), train=True)
    loader = make_loader(dataset, batch_size=3, workers=2, device="cpu", persistent=True)
    by_epoch = []
    for epoch in range(2):
        dataset.set_epoch(epoch)
        with_workers = torch.cat([clips for clips, _, _ in loader])
        in_process = torch.stack([dataset[i][0] for i in range(len(dataset))])
        torch.testing.assert_close(with_workers, in_process)
        by_epoch.append(with_workers)
    assert not torch.equal(by_epoch[0], by_epoch[1])


def test_shuffled_order_comes_from_its_generator_alone(root):
    """The order is the generator's; the workers' seeds come from the loader's own generator, so the global RNG is
    left as it was (a resumed run draws the same dropout masks as an uninterrupted one)."""
    dataset = ClipDataset(open_dataset(root), Feeding(4, 1, 32, 28))
    orders = []
    for workers in (0, 1):
        torch.manual_seed(7)
        loader = make_loader(
            dataset,
            batch_size=6,
            workers=workers,
            device="cpu",
            shuffle=True,
            generator=torch.Generator().manual_seed(3),
        )
        (_, labels, _), after = next(iter(loader)), torch.rand(1)
        orders.append(labels.tolist())
        torch.manual_seed(7)
        assert torch.equal(after, torch.rand(1))
    assert orders[0] == orders[1]


def test_automatic_worker_count(monkeypatch):
    monkeypatch.setattr(loader_module, "usable_cores", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_workers(None, "cuda:0") == loader_module.MAX_GPU_WORKERS
    assert resolve_workers(None, "cpu") == loader_module.CPU_WORKERS
    assert resolve_workers(3, "cuda") == 3 and resolve_workers(0, "cuda") == 0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun: 4 processes share the 16 cores
    assert resolve_workers(None, "cuda:1") == 3
    monkeypatch.setattr(loader_module, "usable_cores", lambda: 1)
    assert resolve_workers(None, "cuda") == 1  # a GPU always gets a worker beside its feeding process
