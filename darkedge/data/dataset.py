"""ClipDataset: a DataIndex as a torch Dataset of (clip, label), deterministic per (seed, epoch, index)."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from darkedge.data.cache import ClipCache
from darkedge.data.lists import DataIndex
from darkedge.data.sampling import sample_indices
from darkedge.data.transforms import to_tensor, transform_clip
from darkedge.data.video import VideoError, count_frames, read_frames
from darkedge.feeding import Feeding

log = logging.getLogger(__name__)


class ClipDataset(Dataset):
    """Clips cut as `feeding` says (darkedge.feeding: T frames `frame_step` apart, resized and cropped), as float32
    (3, T, crop, crop).

    With num_clips * num_crops > 1 (multi-view evaluation) a clip is (V, 3, T, crop, crop), V views ordered clip
    by clip. With skip_unreadable, an unreadable clip logs its path and reason once and comes back as None
    (see collate_clips) instead of raising VideoError.
    """

    def __init__(
        self,
        index: DataIndex,
        feeding: Feeding,
        train: bool = False,
        num_clips: int = 1,
        num_crops: int = 1,
        skip_unreadable: bool = False,
        seed: int = 0,
        cache: ClipCache | None = None,
    ):
        if train and (num_clips > 1 or num_crops > 1):
            raise ValueError("multi-clip / multi-crop views are for evaluation only")
        self.index = index
        self.feeding = feeding
        self.train = train
        self.num_clips = num_clips
        self.num_crops = num_crops
        self.skip_unreadable = skip_unreadable
        self.seed = seed
        self.cache = cache  # decoded frames at the feeding's resize (darkedge.data.cache), when given
        # in shared memory, so that DataLoader workers that live across epochs see set_epoch too
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._frame_counts: dict[int, int] = {}
        self._reported: set[int] = set()

    @property
    def class_names(self) -> list[str]:
        return self.index.class_names

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops and offsets of training clips; call before each epoch (before iterating a
        DataLoader over it: its workers read the epoch when they load a clip)."""
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.index.samples)

    def _count(self, i: int) -> int:
        if i not in self._frame_counts:
            sample = self.index.samples[i]
            cached = None
            if self.cache is not None and not sample.num_frames:
                cached = self.cache.count(sample.path, self.feeding.resize)
            self._frame_counts[i] = sample.num_frames or cached or count_frames(sample.path)
        return self._frame_counts[i]

    def load(self, i: int) -> torch.Tensor:
        """Clip i as a tensor; raises VideoError when it cannot be read."""
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        feed, sample = self.feeding, self.index.samples[i]
        indices = sample_indices(
            self._count(i), feed.frames, feed.frame_step, self.train, self.num_clips, rng
        )
        wanted = indices.ravel() + sample.start  # a stretch of a long video: from its start
        frames = self.cache.read(sample.path, wanted, feed.resize) if self.cache is not None else None
        if frames is None:
            frames = read_frames(sample.path, wanted)
        frames = frames.reshape(*indices.shape, *frames.shape[1:])
        views = [
            to_tensor(view)
            for clip in frames
            for view in transform_clip(clip, self.train, feed.resize, feed.crop, self.num_crops, rng)
        ]
        return views[0] if len(views) == 1 else torch.stack(views)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | None:
        label = self.index.samples[i].label
        if not self.skip_unreadable:
            return self.load(i), label
        try:
            return self.load(i), label
        except VideoError as error:
            if i not in self._reported:
                self._reported.add(i)
                log.warning("skipping unreadable clip %s: %s", self.index.samples[i].path, error)
            return None


def collate_clips(
    batch: list[tuple[torch.Tensor, int] | None],
) -> tuple[torch.Tensor | None, torch.Tensor | None, int]:
    """Stack the readable clips of a batch: (clips, labels, number skipped); (None, None, n) if none is left."""
    kept = [item for item in batch if item is not None]
    skipped = len(batch) - len(kept)
    if not kept:
        return None, None, skipped
    clips = torch.stack([clip for clip, _ in kept])
    labels = torch.tensor([label for _, label in kept], dtype=torch.long)
    return clips, labels, skipped
