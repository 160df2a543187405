"""Unlabelled footage for distillation: the clips a teacher labels softly and the student learns from.

A box records hours of night video and almost none of it is labelled. `unlabeled_index` turns a folder (searched
for videos and frame folders), a list file (its labels ignored) or a video of any length into clips: each video is
cut into stretches of a few clip spans (`Sample.start` / `num_frames`), so an hour-long recording is many clips,
each decoded alone, never the whole file. A file that cannot be read is skipped, counted and named, never fatal.

`hold_back_labels` is the same thing for experiments on a labelled set (TrainConfig.label_fraction): it keeps a
class-stratified fraction of the training split's labels, fixed by the seed, and returns the other clips as paths,
with nothing of their labels. `MixedBatches` puts labelled and unlabelled clips into every batch at a ratio; an
unlabelled clip's label is UNLABELED, which the losses read as "no label: KL to the teacher only".
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from darkedge.data.lists import DataIndex, Sample, open_dataset
from darkedge.data.video import VIDEO_EXTENSIONS, VideoError, count_frames, is_frame_folder, is_video
from darkedge.errors import DarkedgeError
from darkedge.names import UNLABELED

log = logging.getLogger(__name__)

STRETCH_SPANS = 2  # a long video is cut into stretches of this many clip spans; a clip starts anywhere in one


@dataclass
class UnlabeledSet:
    """Unlabelled clips (DataIndex of stretches labelled UNLABELED), the files they came from, and what was
    skipped: unreadable files with the reason, and the frames of video the clips cover."""

    index: DataIndex
    files: list[Path]
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    frames: int = 0

    @property
    def clips(self) -> int:
        return len(self.index.samples)


def find_videos(path: str | os.PathLike) -> list[Path]:
    """The videos `path` names: a video file itself, every video and frame folder under a folder (sorted, hidden
    files left out), or a list file's clips (labels ignored). One-line error when there are none."""
    path = Path(path)
    if not path.exists():
        raise DarkedgeError(f"{path}: no such file or folder (given as unlabelled footage)")
    if path.is_file():
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return [path]
        return [sample.path for sample in open_dataset(path, split="all").samples]
    if is_frame_folder(path):
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        root_path = Path(root)
        frame_folders = sorted(d for d in dirs if not d.startswith(".") and is_frame_folder(root_path / d))
        found += [root_path / d for d in frame_folders]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in frame_folders)
        found += [root_path / f for f in sorted(files) if not f.startswith(".") and is_video(root_path / f)]
    if not found:
        raise DarkedgeError(f"{path}: no videos in it (given as unlabelled footage)")
    return found


def stretches(path: Path, frames: int, span: int) -> list[Sample]:
    """A video of `frames` frames as clips to sample from: stretches of STRETCH_SPANS spans (the last one takes
    what is left), or the whole video when it is shorter than two stretches."""
    size = STRETCH_SPANS * span
    count = max(1, frames // size)
    starts = [k * size for k in range(count)]
    lengths = [size] * (count - 1) + [frames - starts[-1]]
    return [Sample(path, UNLABELED, length, start) for start, length in zip(starts, lengths, strict=True)]


def unlabeled_index(paths: list[Path], span: int, source: str) -> UnlabeledSet:
    """The clips of `paths` for clips spanning `span` frames; unreadable files are skipped and counted."""
    samples: list[Sample] = []
    readable: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    frames = 0
    for path in paths:
        try:
            n = count_frames(path)
        except VideoError as error:
            log.warning("skipping unreadable unlabelled video: %s", error)
            unreadable.append((path, str(error)))
            continue
        readable.append(path)
        frames += n
        samples += stretches(path, n, span)
    if not samples:
        raise DarkedgeError(f"{source}: none of its {len(paths)} videos could be read (unlabelled footage)")
    index = DataIndex(samples, [], Path(source), "unlabeled")
    return UnlabeledSet(index, readable, unreadable, frames)


def hold_back_labels(index: DataIndex, fraction: float, seed: int) -> tuple[DataIndex, list[Path]]:
    """Keep a class-stratified `fraction` of `index`'s labels (at least one clip per class, fixed by `seed`);
    returns the labelled clips and the paths of the others, whose labels the caller never sees."""
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, sample in enumerate(index.samples):
        by_class[sample.label].append(i)
    rng = np.random.default_rng([seed, 7_411])
    kept: set[int] = set()
    for label in sorted(by_class):
        members = by_class[label]
        take = max(1, round(fraction * len(members)))
        kept.update(members[j] for j in rng.permutation(len(members))[:take])
    labelled = [s for i, s in enumerate(index.samples) if i in kept]
    held = [s.path for i, s in enumerate(index.samples) if i not in kept]
    return DataIndex(labelled, index.class_names, index.root, index.fmt, index.video_roots, index.fold), held


class MixedBatches(Sampler[list[int]]):
    """Batches of `batch_size` labelled clips (indices 0 .. labelled-1 of a ConcatDataset, in the order the
    default sampler gives them: shuffled from (seed, epoch), each rank its share) plus round(batch_size * ratio)
    unlabelled ones (indices from `labelled` on), drawn without repeats until the pool runs out."""

    def __init__(
        self, labelled: int, unlabeled: int, batch_size: int, ratio: float, seed: int, rank=0, world=1
    ):
        self.labelled, self.unlabeled, self.batch_size = labelled, unlabeled, batch_size
        self.extra = round(batch_size * ratio) if unlabeled else 0
        self.seed, self.rank, self.world, self.epoch = seed, rank, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _labelled_order(self) -> list[int]:
        """DistributedSampler's order for the labelled clips (shuffle, pad to a multiple of world, this rank's)."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.labelled, generator=g).tolist()
        per_rank = math.ceil(self.labelled / self.world)
        order += order[: per_rank * self.world - len(order)]
        return order[self.rank :: self.world]

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.labelled / self.world) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        labelled = self._labelled_order()
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 29])
        pool: list[int] = []
        for first in range(0, len(labelled), self.batch_size):
            batch = labelled[first : first + self.batch_size]
            while len(pool) < self.extra:
                pool += (self.labelled + rng.permutation(self.unlabeled)).tolist()
            batch += pool[: self.extra]
            del pool[: self.extra]
            yield batch


def mixed(
    labelled: Dataset, unlabeled: Dataset, batch_size: int, ratio: float
) -> tuple[ConcatDataset, Callable]:
    """One dataset of both, labelled first, and the training engine's batch sampler for it: `batches(dataset, d,
    seed)` makes the MixedBatches of process d (its rank and world size) that mix them at `ratio`."""

    def batches(_dataset: Dataset, d, seed: int) -> MixedBatches:
        return MixedBatches(len(labelled), len(unlabeled), batch_size, ratio, seed, d.rank, d.world_size)

    return EpochConcat([labelled, unlabeled]), batches


class EpochConcat(ConcatDataset):
    """A ConcatDataset whose set_epoch reaches every part (their random crops and offsets change per epoch)."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
