"""Calibration sets: a few dozen representative clips that set the INT8 ranges (no labels needed).

`build_calibration_set` picks clips from a data set's training split, stratified over classes and brightness
(dark scenes and less dark scenes give different activation ranges), copies them into a folder and writes
down what it chose. `open_calibration` reads any supported form back: that folder, a data-set folder or list
file, or any folder of clips (labels taken from class-named parent folders when they match, else unknown).
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from darkedge.data.dataset import ClipDataset, collate_clips
from darkedge.data.lists import DataIndex, Sample, open_dataset
from darkedge.data.video import VideoError, count_frames, is_frame_folder, is_video, read_frames
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.fileio import (
    atomic_path,
    commit_temporary,
    discard_temporary,
    temporary_beside,
    write_json,
    write_text,
)
from darkedge.logs import progress
from darkedge.names import BUILTIN_DATA, CALIB_DIR, DEFAULT_RUN, UNLABELED
from darkedge.run import open_run
from darkedge.settings import at_least

log = logging.getLogger(__name__)

CALIB_CLIPS = 64  # clips in a calibration set, and at most this many set the PTQ ranges
LIST_NAME = "calib_list.txt"  # ARID v1.0 format: idx <TAB> label <TAB> Class/file
CLASS_TABLE = "mapping_table.txt"
DETAILS_NAME = "calib_set.json"
BRIGHTNESS_BINS = 3
UNLABELED_FOLDER = "unlabeled"  # where a calibration set keeps clips whose labels a run held back
HOW_TO_FILL = "fill it with `darkedge calib build` (or copy video clips into it)"


def clip_brightness(sample: Sample) -> float:
    """Mean luma (0-255) of a clip's middle frame."""
    middle = (sample.num_frames or count_frames(sample.path)) // 2
    frame = read_frames(sample.path, [middle])[0]
    return float(cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)[..., 0].mean())


def stratified_pick(keys: list[tuple[int, int]], n: int, seed: int) -> list[int]:
    """Indices of `n` items spread evenly over the (class, brightness bin) cells `keys` names, round robin."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        cells[key].append(i)
    rng = random.Random(seed)
    queues = [rng.sample(members, len(members)) for _, members in sorted(cells.items())]
    rng.shuffle(queues)
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    return sorted(picked)


def _copy_clip(source: Path, target: Path) -> None:
    """Copy a video file or frame folder; the target name appears only once the copy is complete, and an
    interrupted copy leaves nothing (fileio.cleanup_on_interrupt)."""
    if not source.is_dir():
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        return
    tmp = temporary_beside(target, folder=True)
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        commit_temporary(tmp, target)
    finally:
        discard_temporary(tmp)


@dataclass
class CalibConfig:
    """`darkedge calib build`: which clips, from which data set, into which folder."""

    data: str | None = None  # None: the run's data set (its videos and fold too), else the built-in one
    run: str = DEFAULT_RUN  # the run whose data is the default
    out: str = CALIB_DIR
    clips: int = CALIB_CLIPS
    seed: int = 0
    fold: int | None = None  # which official split's training list; None: the run's, else 1
    video_root: str | None = None  # where the list's videos are looked for first

    def __post_init__(self) -> None:
        at_least(self, 1, ("clips",))
        at_least(self, 0, ("fold",))


def build_for(cfg: CalibConfig) -> dict:
    """Build the calibration set `cfg` asks for. By default it comes from the run's data set, from its training
    split (ARID's splits are by scene: a run's calibration must not hold its own test scenes); without a run, from
    the built-in set."""
    data, video_root, fold = cfg.data, cfg.video_root, cfg.fold
    try:
        run = open_run(cfg.run)
    except DarkedgeError:
        run = None
    run_config = run.config if run else None
    if not data:  # the run's data set, its videos where --video-root says when given
        data = run_config.data if run_config else BUILTIN_DATA
        video_root = video_root or (run_config.video_root if run_config else None)
    if fold is None:
        fold = run_config.fold if run_config else 1
    # a run that held labels back: those clips calibrate too, as the unlabelled clips they are to it
    relabel = run.hide_held_back if run_config and data == run_config.data else None
    return build_calibration_set(
        data, cfg.out, cfg.clips, cfg.seed, video_root=video_root, fold=fold, relabel=relabel
    )


def build_calibration_set(
    data: str | os.PathLike,
    out: str | os.PathLike,
    num_clips: int,
    seed: int = 0,
    video_root: str | os.PathLike | None = None,
    fold: int = 1,
    relabel: Callable[[DataIndex], DataIndex] | None = None,
) -> dict:
    """Choose `num_clips` training clips of `data` stratified over class x brightness tercile; copy them to `out`.

    `video_root`: where the list's videos are looked for first (see data/layout.py); `fold`: which official split's
    training list (a run's calibration must not hold its own test scenes); `relabel`: what the caller knows of the
    labels (a run's held-back clips are unlabelled: one more stratum)."""
    index = open_dataset(data, split="train", fold=fold, video_root=video_root)
    if relabel is not None:
        index = relabel(index)
    out = Path(out)
    brightness: list[float | None] = []
    for sample in progress(index.samples, desc="measuring brightness", unit="clip", leave=False):
        try:
            brightness.append(clip_brightness(sample))
        except VideoError as error:
            log.warning("skipping unreadable clip %s: %s", sample.path, error)
            brightness.append(None)
    readable = [i for i, b in enumerate(brightness) if b is not None]
    if not readable:
        raise DarkedgeError(f"{data}: none of its {len(index.samples)} training clips could be decoded")
    edges = np.quantile([brightness[i] for i in readable], np.linspace(0, 1, BRIGHTNESS_BINS + 1)[1:-1])
    keys = [(index.samples[i].label, int(np.searchsorted(edges, brightness[i]))) for i in readable]
    chosen = [readable[j] for j in stratified_pick(keys, num_clips, seed)]

    # Replace a set this command built before (never other files the folder holds, such as README.md).
    shutil.rmtree(out / "clips", ignore_errors=True)
    (out / LIST_NAME).unlink(missing_ok=True)
    lines, details = [], []
    for n, i in enumerate(progress(chosen, desc="copying clips", unit="clip", leave=False)):
        sample = index.samples[i]
        class_name = index.class_names[sample.label] if sample.label != UNLABELED else UNLABELED_FOLDER
        rel = f"{class_name}/{sample.path.name}"
        _copy_clip(sample.path, out / "clips" / rel)
        lines.append(f"{n}\t{sample.label}\t{rel}")
        details.append(
            {
                "file": rel,
                "label": sample.label,
                "class": class_name,
                "brightness": round(brightness[i], 2),
                "source": str(sample.path),
            }
        )
    write_text(out / CLASS_TABLE, "".join(f"{i}\t{name}\n" for i, name in enumerate(index.class_names)))
    summary = {
        "data": str(data),
        "videos": [str(root) for root in index.video_roots],
        "seed": seed,
        "requested": num_clips,
        "chosen": len(chosen),
        "unreadable_skipped": len(index.samples) - len(readable),
        "classes_covered": len({d["label"] for d in details} - {UNLABELED}),
        "unlabeled": sum(d["label"] == UNLABELED for d in details),
        "brightness_tercile_edges": [round(float(e), 2) for e in edges],
        "clips": details,
    }
    write_json(out / DETAILS_NAME, summary)
    write_text(out / LIST_NAME, "".join(line + "\n" for line in lines))  # last: the set is complete
    return summary


def fill_if_empty(folder: str | os.PathLike, run_dir: str | os.PathLike) -> dict | None:
    """After `darkedge train`: build a calibration set in `folder` from the run's training clips unless the folder
    already holds clips; the summary, or None."""
    folder = Path(folder)
    if (folder / LIST_NAME).is_file() or (folder.is_dir() and _scan_clips(folder, [])):
        return None
    return build_for(CalibConfig(run=str(run_dir), out=str(folder)))


def _scan_clips(folder: Path, class_names: list[str]) -> list[Sample]:
    """Every video file and frame folder under `folder`; labelled when its parent folder is a class name."""
    found: list[Sample] = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        label = class_names.index(root_path.name) if root_path.name in class_names else UNLABELED
        if root_path != folder and is_frame_folder(root_path):
            parent = root_path.parent.name
            found.append(Sample(root_path, class_names.index(parent) if parent in class_names else UNLABELED))
            dirs[:] = []
            continue
        found += [
            Sample(root_path / f, label) for f in sorted(files) if not f.startswith(".") and is_video(Path(f))
        ]
    return found


def open_calibration(path: str | os.PathLike, class_names: list[str]) -> DataIndex:
    """The calibration clips at `path`: a folder `calib build` made, a list file, a data set or a folder of clips."""
    path = Path(path)
    if not path.exists():
        raise DarkedgeError(f"{path}: no such calibration folder; {HOW_TO_FILL}")
    if path.is_file():
        return open_dataset(path, split="all")
    if (path / LIST_NAME).is_file():
        return open_dataset(path / LIST_NAME, split="all")
    samples = _scan_clips(path, class_names)
    if not samples:
        raise DarkedgeError(f"{path}: no calibration clips in it; {HOW_TO_FILL}")
    return DataIndex(samples, list(class_names), path, "folder")


def calibration_batches(
    index: DataIndex, feeding: Feeding, limit: int | None = None
) -> tuple[list[torch.Tensor], int]:
    """Decode the calibration clips (each a (1, 3, T, crop, crop) batch) as evaluation does; (batches, skipped).

    With `limit`, at most that many clips, evenly spaced over the list.
    """
    samples = index.samples
    if limit and len(samples) > limit:  # evenly spaced: lists are grouped by class
        samples = [samples[i] for i in np.linspace(0, len(samples) - 1, limit).round().astype(int)]
    dataset = ClipDataset(
        DataIndex(samples, index.class_names, index.root, index.fmt),
        feeding,
        train=False,
        skip_unreadable=True,
    )
    batches, skipped = [], 0
    loader = DataLoader(dataset, batch_size=1, collate_fn=collate_clips)
    for clips, _, n_skipped in progress(loader, desc="decoding calibration clips", unit="clip", leave=False):
        skipped += n_skipped
        if clips is not None:
            batches.append(clips)
    if not batches:
        raise DarkedgeError(f"{index.root}: none of the {len(samples)} calibration clips could be decoded")
    return batches, skipped
