"""DataLoaders that keep the model fed: worker processes chosen from the machine and device, pinned memory for
non-blocking copies to a GPU, workers that live across epochs, and a few batches decoded ahead.

`workers` None means "choose": on a GPU, one worker per usable core but one (the main process feeds the GPU), at
most 8, shared among the processes of this node under torchrun; on a CPU, where the model's own threads already
use every core, CPU_WORKERS (measured by benchmarks/bench_workers.py, results in benchmarks/results/workers.md).
"""

from __future__ import annotations

import os

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from darkedge.cores import usable_cores
from darkedge.data.dataset import collate_clips

# Workers for a CPU-only run. On the 2-core machine this project is developed on, decoding in one worker beside the
# training process overlapped the two (benchmarks/results/workers.md compares 0, 1 and 2 for the default pipeline).
CPU_WORKERS = 1
MAX_GPU_WORKERS = 8  # more rarely helps: the built-in clips decode at hundreds per second per worker
GPU_PREFETCH = 4  # batches each worker decodes ahead on a GPU (the DataLoader's default, 2, on a CPU)


def auto_workers(device: str) -> int:
    """The worker count `workers` None stands for on `device` ("cpu", "cuda", "cuda:1", ...)."""
    if not device.startswith("cuda"):
        return CPU_WORKERS
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))  # torchrun's processes on this node
    return max(1, min(usable_cores() // processes - 1, MAX_GPU_WORKERS))


def resolve_workers(requested: int | None, device: str) -> int:
    """`requested`, or the machine's choice when it is None."""
    return auto_workers(device) if requested is None else requested


def _worker_init(_worker_id: int) -> None:
    """One OpenCV thread per worker: the workers are the parallelism (torch already gives each one thread)."""
    cv2.setNumThreads(1)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    workers: int,
    device: str,
    sampler: Sampler | None = None,
    batch_sampler: Sampler | None = None,
    shuffle: bool = False,
    generator=None,
    drop_last: bool = False,
    persistent: bool = False,
) -> DataLoader:
    """A DataLoader of (clips, labels, skipped) batches for `device`; `shuffle` draws its order from `generator`;
    a `batch_sampler` makes the batches itself (batch_size and drop_last then unused).

    On CUDA the batches come in pinned memory, so `tensor.to(device, non_blocking=True)` overlaps the copy with
    compute. `persistent` keeps the workers between epochs (a training loader); a ClipDataset's `set_epoch`
    reaches them through shared memory. The workers' seeds come from a generator of the loader's own, never from
    the global RNG or the order's generator: those then see the same draws whether an epoch starts new workers
    (the first, or the first after a resume) or reuses them, so a resumed run matches an uninterrupted one.
    """
    cuda = device.startswith("cuda")
    if shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    extra = {}
    if workers > 0:
        extra = dict(
            persistent_workers=persistent,
            prefetch_factor=GPU_PREFETCH if cuda else 2,
            worker_init_fn=_worker_init,
        )
    if batch_sampler is not None:
        extra["batch_sampler"] = batch_sampler
    else:
        extra.update(batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    return DataLoader(
        dataset,
        generator=torch.Generator(),
        num_workers=workers,
        collate_fn=collate_clips,
        pin_memory=cuda,
        **extra,
    )
