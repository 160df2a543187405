"""Run directories: runs/<YYYYmmdd-HHMMSS>/ with config, class names, checkpoints and metrics; runs/latest links
to the newest. Later commands open a run by its path and find everything they need in it: the config and
checkpoints (`Run`), the exports listed in RUN/export/manifest.json, and the library versions that made them.

Everything from train up reads runs (the runtimes read manifests), so this module sits below all of it; it
imports neither torch nor OpenCV until a run's data set is opened.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from darkedge import __version__
from darkedge.config import TrainConfig, config_from_dict
from darkedge.errors import DarkedgeError
from darkedge.fileio import read_json, write_json
from darkedge.names import CONFIG_FILE, DEFAULT_RUN, INT8_NAME, METRICS_FILE, STAGES, UNLABELED

MANIFEST = "manifest.json"  # RUN/export/manifest.json
LABELS = "labels.json"  # RUN/labels.json: which training clips keep their labels (label_fraction < 1)
VAL = "val.json"  # RUN/val.json: the validation clips (val_fraction, or the --val list) and how they were chosen
DISTILLED_STAGES = ("student", "self_train", INT8_NAME)  # what learns from a teacher's logits
REFIT_STAGES = ("student", INT8_NAME)  # deployed models: with `refit` they learn from the validation clips


@dataclass
class TrainingData:
    """What one stage (or QAT) trains on: the labelled training clips (sampled as the teacher's: a student sees its
    view), the unlabelled footage it also learns from (None: none), and how many clips the whole training split
    holds (labelled, validation and held back together: the step budget of label_fraction < 1 runs)."""

    labelled: Any
    unlabeled: Any  # darkedge.data.unlabeled.UnlabeledSet or None
    unlabeled_set: Any  # a training ClipDataset over its clips, or None
    split_clips: int
    validated: bool  # the validation clips are held out from it (False: there are none, or refit)


class Run:
    """An existing run directory: its config, its class names and the paths of its checkpoints."""

    def __init__(self, path: Path, config: TrainConfig, class_names: list[str]):
        self.path = path
        self.config = config
        self.class_names = class_names

    def checkpoint(self, name: str) -> Path:
        """RUN/<name>.pt; a one-line error naming the command that makes it when it is missing."""
        path = self.path / (name if name.endswith(".pt") else f"{name}.pt")
        if not path.is_file():
            stage = path.stem
            make = (
                f"darkedge train --stage {stage} --run {self.path}" if stage in STAGES else "darkedge train"
            )
            raise DarkedgeError(f"{path}: no such checkpoint; make it with `{make}`")
        return path

    def dataset(self, split: str, model: str, train: bool = False, with_val: bool = False, **overrides: Any):
        """A ClipDataset over the run's data (or `data=` another set with the same classes), cut as `model` is fed
        (TrainConfig.feeding: a student's own frames and crop, else the teacher's). `split` is "train" (the labelled
        training clips, validation clips left out unless `with_val`), "val" (RUN/val.json's) or "test".

        Evaluation sets use the run's protocol (eval_clips x eval_crops); `overrides` go to ClipDataset. Training
        sets are the teacher's for every stage: a student sees its view of the teacher's clip (darkedge.data.views).
        """
        # imported here, not above: reading a run (predictors, the CLI) must not load torch and OpenCV
        from darkedge.data.dataset import ClipDataset
        from darkedge.data.lists import open_dataset

        data = overrides.pop("data", None) or self.config.data
        if split == "val":
            index = self.validation_index()
        else:
            video_root = self.config.video_root if data == self.config.data else None
            index = open_dataset(data, split=split, fold=self.config.fold, video_root=video_root)
            check_classes(index.class_names, self.class_names, data, self.path)
        if split == "train" and data == self.config.data:
            index = self.labelled(index, with_val)
        cfg = self.config
        settings: dict[str, Any] = dict(
            feeding=cfg.feeding(model),
            train=train,
            skip_unreadable=True,
            cache=self.clip_cache(index.samples),
            seed=cfg.seed,
        )
        if not train:
            settings.update(num_clips=cfg.eval_clips, num_crops=cfg.eval_crops)
        settings.update(overrides)
        return ClipDataset(index, **settings)

    @property
    def metrics_path(self) -> Path:
        """RUN/metrics.json: every stage's results and the teacher guard's decision."""
        return self.path / METRICS_FILE

    def metrics(self) -> dict[str, Any]:
        """What RUN/metrics.json holds so far ({} before the first stage ends)."""
        return read_json(self.metrics_path, default={})

    def label_split(self) -> dict[str, Any] | None:
        """RUN/labels.json (written by save_label_split): the paths of the training clips that keep their labels
        ("labelled") and of those whose labels were held back ("held_back"); None when every clip keeps its label."""
        path = self.path / LABELS
        if not path.is_file():
            return None
        try:
            split = json.loads(path.read_text())
            if not all(isinstance(split.get(k), list) for k in ("labelled", "held_back")):
                raise ValueError("no 'labelled' and 'held_back' lists")
        except (OSError, ValueError) as e:
            raise DarkedgeError(f"{path}: not a label split darkedge wrote ({e})") from None
        return split

    def _kept(self) -> set[str] | None:
        """The paths of the training clips that keep their labels, or None: all do."""
        split = self.label_split()
        return set(split["labelled"]) if split is not None else None

    def val_split(self) -> dict[str, Any] | None:
        """RUN/val.json (written by save_val_split): the validation clips ("clips", paths) and where they came
        from ("source": the training split, or the --val list); None when the run has no validation split."""
        path = self.path / VAL
        if not path.is_file():
            return None
        try:
            split = json.loads(path.read_text())
            if not isinstance(split.get("clips"), list) or not isinstance(split.get("source"), str):
                raise ValueError("no 'clips' list and 'source'")
        except (OSError, ValueError, AttributeError) as e:
            raise DarkedgeError(f"{path}: not a validation split darkedge wrote ({e})") from None
        return split

    def validation_index(self):
        """The validation clips with their labels: those RUN/val.json lists, from the training split or the --val
        list they were taken from; one-line error when the run has none."""
        from darkedge.data.lists import open_dataset

        split, cfg = self.val_split(), self.config
        if split is None:
            raise DarkedgeError(f"{self.path}: no validation split ({VAL}); a run made with val_fraction 0")
        if cfg.val:
            index = open_dataset(cfg.val, split="all")
        else:
            index = open_dataset(cfg.data, split="train", fold=cfg.fold, video_root=cfg.video_root)
        check_classes(index.class_names, self.class_names, cfg.val or cfg.data, self.path)
        chosen = set(split["clips"])
        index.samples = [s for s in index.samples if str(s.path) in chosen]
        return index

    def _validation_paths(self) -> set[str]:
        split = self.val_split()
        return set(split["clips"]) if split is not None and not self.config.val else set()

    def training_clips(self) -> int:
        """How many clips the training split holds, labelled or not (with labels held back: both parts)."""
        split = self.label_split()
        if split is not None:
            return len(split["labelled"]) + len(split["held_back"])
        from darkedge.data.lists import open_dataset

        cfg = self.config
        return len(open_dataset(cfg.data, split="train", fold=cfg.fold, video_root=cfg.video_root).samples)

    def labelled(self, index, with_val: bool = False):
        """The training clips that keep their labels (all of them, or those RUN/labels.json lists, by path only:
        the labels of the others are never read), less the validation clips unless `with_val`."""
        kept, val = self._kept(), set() if with_val else self._validation_paths()
        index.samples = [
            s for s in index.samples if (kept is None or str(s.path) in kept) and str(s.path) not in val
        ]
        return index

    def hide_held_back(self, index):
        """The training clips, those whose labels were held back relabelled UNLABELED (their labels unread)."""
        from darkedge.data.lists import Sample

        kept = self._kept()
        if kept is not None:
            index.samples = [
                s if str(s.path) in kept else Sample(s.path, UNLABELED, s.num_frames, s.start)
                for s in index.samples
            ]
        return index

    def unlabeled(self):
        """The student's unlabelled footage (darkedge.data.unlabeled.UnlabeledSet): the training clips whose labels
        were held back and the videos config.unlabeled names, cut at the teacher's clip span; None when there is
        none."""
        from darkedge.data.unlabeled import find_videos, unlabeled_index

        split = self.label_split()
        paths = [Path(p) for p in split["held_back"]] if split is not None else []
        if self.config.unlabeled:
            paths += find_videos(self.config.unlabeled)
        if not paths:
            return None
        source = self.config.unlabeled or f"{self.config.data} (labels held back)"
        return unlabeled_index(paths, self.config.feeding("teacher").span, source)

    def unlabeled_dataset(self, unlabeled):
        """A training ClipDataset over `unlabeled`'s clips, cut as the teacher's (the student sees its view)."""
        from darkedge.data.dataset import ClipDataset

        feeding, cache = self.config.feeding("teacher"), self.clip_cache(unlabeled.index.samples)
        return ClipDataset(
            unlabeled.index, feeding, train=True, skip_unreadable=True, seed=self.config.seed, cache=cache
        )

    def training_data(self, stage: str) -> TrainingData:
        """What `stage` (a classifier stage, or INT8_NAME for QAT) trains on: the labelled training clips, and the
        unlabelled footage when the stage learns from it (a distilled stage, or a semi-supervised one:
        TrainConfig.semi) and the run has some. The one place that decides which clips each stage sees."""
        cfg = self.config
        refit = cfg.refit and stage in REFIT_STAGES
        labelled = self.dataset("train", "teacher", train=True, with_val=refit)
        learns = stage in DISTILLED_STAGES or stage in cfg.semi_stages
        unlabeled = self.unlabeled() if learns and cfg.unlabeled_ratio > 0 else None
        unlabeled_set = self.unlabeled_dataset(unlabeled) if unlabeled is not None else None
        validated = self.val_split() is not None and not refit
        return TrainingData(labelled, unlabeled, unlabeled_set, self.training_clips(), validated)

    def clip_cache(self, samples):
        """The clip cache the run's `cache` setting gives these clips (darkedge.data.cache), or None."""
        from darkedge.data.cache import open_cache

        return open_cache(self.config.cache, samples, self.config.cache_gb)

    def protocol(self, model: str) -> dict[str, Any]:
        """The evaluation protocol every accuracy of `model` in this run is measured with."""
        cfg, feeding = self.config, self.config.feeding(model)
        return {
            "clips": cfg.eval_clips,
            "crops": cfg.eval_crops,
            "frames": feeding.frames,
            "frame_step": feeding.frame_step,
            "size": feeding.crop,
        }


def check_classes(found: list[str], expected: list[str], data: Any, run_path: Path) -> None:
    """One-line error when a data set's classes are not the run's."""
    if list(found) != list(expected):
        raise DarkedgeError(
            f"{data}: its {len(found)} classes ({', '.join(found[:4])}...) differ from run {run_path}'s "
            f"{len(expected)} ({', '.join(expected[:4])}...)"
        )


def open_run(path: str | os.PathLike = DEFAULT_RUN) -> Run:
    """Open an existing run directory (runs/latest by default); one-line error when it is not one."""
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise DarkedgeError(
            f"{path}: not a darkedge run directory (no config.json); make one with `darkedge train`"
        )
    try:
        saved = json.loads(config_path.read_text())
        config = config_from_dict(saved["train"], str(config_path))
        class_names = [str(c) for c in saved["class_names"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DarkedgeError(f"{config_path}: not a darkedge run config") from None
    return Run(path, config, class_names)


def save_run_config(path: Path, config: TrainConfig, class_names: list[str]) -> None:
    """Write RUN/config.json: the train config, the class names and the darkedge version."""
    write_json(
        path / CONFIG_FILE,
        {"train": asdict(config), "class_names": class_names, "darkedge_version": __version__},
    )


def save_label_split(path: Path, config: TrainConfig) -> dict[str, int] | None:
    """With label_fraction < 1: choose the training clips that keep their labels (class-stratified, from the seed)
    and write RUN/labels.json; returns the counts (None when every label is kept)."""
    if config.label_fraction >= 1:
        return None
    from darkedge.data.lists import open_dataset
    from darkedge.data.unlabeled import hold_back_labels

    index = open_dataset(config.data, split="train", fold=config.fold, video_root=config.video_root)
    labelled, held = hold_back_labels(index, config.label_fraction, config.seed)
    split = {
        "label_fraction": config.label_fraction,
        "seed": config.seed,
        "labelled": [str(s.path) for s in labelled.samples],
        "held_back": [str(p) for p in held],
    }
    write_json(path / LABELS, split)
    return {"labelled": len(labelled.samples), "held_back": len(held)}


def save_val_split(path: Path, config: TrainConfig, class_names: list[str]) -> dict[str, Any] | None:
    """Write RUN/val.json: the clips of the --val list (config.val), or `val_fraction` of the labelled training
    clips held out a scene or camera at a time (darkedge.data.split); returns it (None: no validation)."""
    from darkedge.data.lists import open_dataset
    from darkedge.data.split import validation_split

    if config.val:
        index = open_dataset(config.val, split="all")
        check_classes(index.class_names, class_names, config.val, path)
        split: dict[str, Any] = {"source": config.val, "clips": [str(s.path) for s in index.samples]}
    elif config.val_fraction > 0:
        index = open_dataset(config.data, split="train", fold=config.fold, video_root=config.video_root)
        labels = read_json(path / LABELS, default={})
        kept = set(labels["labelled"]) if labels.get("labelled") is not None else None
        samples = [s for s in index.samples if kept is None or str(s.path) in kept]
        chosen = validation_split(samples, index.class_names, config.val_fraction, config.seed)
        split = {
            "source": "training split",
            "val_fraction": config.val_fraction,
            "seed": config.seed,
            "grouped_by": chosen.grouped_by,
            "groups": chosen.groups,
            "ungrouped_classes": chosen.ungrouped_classes,
            "train_clips": len(chosen.train),
            "clips": [str(s.path) for s in chosen.val],
        }
    else:
        return None
    write_json(path / VAL, split)
    return split


def describe_val(split: dict[str, Any]) -> str:
    """One line on a validation split: how many clips, from where, grouped how."""
    n = len(split["clips"])
    if split["source"] != "training split":
        return f"{n} clips of {split['source']}"
    text = f"{n} of the labelled training clips"
    if split.get("groups"):
        text += (
            f", {len(split['groups'])} {split['grouped_by']}s held out whole ({', '.join(split['groups'])})"
        )
    else:
        text += ", class-stratified (no scene or camera in the names)"
    if split.get("ungrouped_classes"):
        text += f"; single clips for {', '.join(split['ungrouped_classes'])} (one scene holds them)"
    return text


def new_run_dir(out: Path) -> Path:
    """Create out/<YYYYmmdd-HHMMSS> (a suffix when that second is taken) and point out/latest at it atomically."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = out / stamp, 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            n += 1
            path = out / f"{stamp}-{n}"
    link_latest(path)
    return path


def link_latest(path: Path) -> None:
    """Point <parent>/latest at `path` (relative link), replacing the old link in one rename."""
    tmp = path.parent / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(path.name)
    os.replace(tmp, path.parent / "latest")


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """The manifest of `export_dir` ({"files": {file name: entry}}), or an empty one; a damaged file is a one-line
    error. An entry holds the model, precision, format, input shape and class names of one exported file, so that
    a predictor (or an engine built by hand beside the exports) knows what it runs."""
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        return {"files": {}}
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise ValueError
    except (OSError, ValueError, AttributeError):
        raise DarkedgeError(f"{path}: not a darkedge export manifest") from None
    return manifest


def manifest_entry(path: Path) -> dict[str, Any]:
    """The manifest entry of the exported file `path`, or {} when no manifest beside it names it."""
    entry = read_manifest(Path(path).parent)["files"].get(Path(path).name)
    return entry if isinstance(entry, dict) else {}


def any_class_names(export_dir: Path) -> list[str]:
    """Class names from any entry: every file in a run's export folder comes from the same run."""
    entries = read_manifest(export_dir)["files"].values()
    return next((list(e["class_names"]) for e in entries if isinstance(e, dict) and e.get("class_names")), [])


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed version of each library in `names` (absent ones left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
