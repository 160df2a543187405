"""Every training hyper-parameter in one dataclass, and the presets `darkedge train --preset` picks from.

The student may be smaller than the teacher in every way (`student_*`): another encoder, a width multiplier, fewer
frames, a smaller crop. Its clips are the teacher's clip seen coarser (`TrainConfig.sampling`, darkedge.data.views):
every k-th of the teacher's frames, so the same span of video at k times the stride, and the teacher's crop at a lower
resolution, so the same field of view.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from darkedge.errors import DarkedgeError
from darkedge.names import BUILTIN_DATA, INPUT_NORMS, STUDENT_MODELS


@dataclass(frozen=True)
class Sampling:
    """How a model's clips are cut from a video: `frames` frames every `stride` frames, resized to `resize` px high,
    then cropped to `crop` x `crop` (a random multi-scale crop in training, the centre in evaluation)."""

    frames: int
    stride: int
    resize: int
    crop: int


@dataclass
class TrainConfig:
    """One run: data, clip sampling, optimisation, distillation, architectures. Saved as the run's config.json."""

    preset: str = "small"
    data: str = BUILTIN_DATA  # a data-set folder or list file; the built-in set is generated here if absent
    # the folder the list's videos are in: --video-root, else where the search found them (data/layout.py)
    video_root: str | None = None
    fold: int = 1  # which official split (ARID has 3)
    seed: int = 0
    # clips: T frames at a stride, resized then cropped to a square
    num_frames: int = 8
    stride: int = 4  # 8 frames x 4 span the built-in clips' 32 frames
    resize: int = 54
    crop: int = 48
    eval_clips: int = 1  # evaluation protocol: clips x crops per video, logits averaged
    eval_crops: int = 1
    # optimisation, the same budget for every classifier stage
    epochs: int = 12
    batch_size: int = 8
    accumulate: int = 1  # gradient accumulation: micro-batches per optimiser step
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    amp: bool = True  # bf16 autocast, CUDA only
    eval_every: int = 0  # also evaluate every N epochs (0: after the last epoch only)
    # distillation: alpha * CE + beta * tau^2 * KL
    alpha: float = 1.0
    beta: float = 1.0
    tau: float = 1.0
    # classifier (the teacher's Tc, the student, the raw baseline, each two-stream stream)
    # small preset: a tiny R(2+1)D, which learns the built-in set from scratch in a CPU budget (a from-scratch
    # vit_micro stays near chance there even on bright clips); the paper preset keeps ViT + BERT
    encoder: str = "r2plus1d_nano"
    head: str = "mean"
    head_depth: int = 1
    dropout: float = 0.1
    input_norm: str = (
        "fixed"  # "fixed" (ImageNet mean / std) or "clip" (each clip by its own); names.INPUT_NORMS
    )
    pretrained: str | None = None  # a local encoder weight file (timm-style ViT, IG65M R(2+1)D)
    # the student starts from the teacher's classifier weights ("teacher") or from the raw baseline's
    # initialisation ("scratch"); either way only the student runs at inference, at the raw baseline's cost
    student_init: str = "teacher"
    # the student's own architecture and clips, also the raw baseline's (its no-distillation control); None or 1.0:
    # the teacher's. student_frames must divide num_frames and student_crop be at most crop (`sampling`).
    student_encoder: str | None = None  # any classifier encoder (darkedge.models.ENCODERS)
    student_width: float = 1.0  # channel multiplier of the student's encoder
    student_frames: int | None = None
    student_crop: int | None = None
    # enhancer (Zero-DCE, trained zero-reference on the training clips' own frames)
    # Zero-DCE++ computing its curves at half resolution costs a tenth of Zero-DCE on a CPU; paper: zero_dce
    enhancer: str = "zero_dce_pp"
    enhancer_scale: float = 2.0  # Zero-DCE++'s downscaling factor
    enhancer_steps: int = 40
    enhancer_batch_size: int = 8
    enhancer_crop: int = 32  # random square crops of the training clips' frames
    enhancer_clips: int = 32  # training clips the frames come from
    enhancer_frames: int = 4  # frames taken from each of those clips
    enhancer_lr: float = 1e-3  # the Zero-DCE paper's 1e-4 needs ~10x the steps (paper preset)
    workers: int = 0

    def __post_init__(self) -> None:
        if self.student_init not in ("teacher", "scratch"):
            raise DarkedgeError(f"student_init {self.student_init!r}: expected 'teacher' or 'scratch'")
        if self.input_norm not in INPUT_NORMS:
            raise DarkedgeError(f"input_norm {self.input_norm!r}: expected one of {', '.join(INPUT_NORMS)}")
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

    def sampling(self, model: str) -> Sampling:
        """How `model` (a stage or an export: student, raw, student_int8, teacher, two_stream) is fed clips: the
        student's models at their own frames and crop, the others at the teacher's.

        The student's k = num_frames / student_frames frames are every k-th of the teacher's (stride k x stride, the
        same span), and its crop is resized in proportion (the same field of view).
        """
        if model not in STUDENT_MODELS:
            return Sampling(self.num_frames, self.stride, self.resize, self.crop)
        frames = self.student_frames or self.num_frames
        crop = self.student_crop or self.crop
        return Sampling(
            frames, self.stride * (self.num_frames // frames), round(crop * self.resize / self.crop), crop
        )


PRESETS: dict[str, TrainConfig] = {
    "small": TrainConfig(),
    "paper": TrainConfig(
        preset="paper",
        num_frames=64,
        stride=1,
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
        enhancer="zero_dce",
        enhancer_scale=1.0,
        enhancer_steps=2000,
        enhancer_crop=112,
        enhancer_clips=256,
        enhancer_lr=1e-4,
        workers=4,
    ),
    "test": TrainConfig(
        preset="test",
        num_frames=4,
        stride=2,
        resize=40,
        crop=32,
        epochs=1,
        batch_size=4,
        lr=1e-3,
        warmup_epochs=0.0,
        encoder="vit_nano",
        enhancer_steps=3,
        enhancer_batch_size=2,
        enhancer_crop=32,
        enhancer_clips=4,
        enhancer_frames=2,
    ),
}


def make_config(preset: str = "small", **overrides: Any) -> TrainConfig:
    """The preset's config with `overrides` (None values ignored); one-line error for an unknown preset."""
    if preset not in PRESETS:
        raise DarkedgeError(f"--preset {preset}: no such preset (choose from {', '.join(PRESETS)})")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise DarkedgeError(f"train config: unknown setting(s) {', '.join(sorted(unknown))}")
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def config_from_dict(d: dict[str, Any], source: str) -> TrainConfig:
    """Rebuild a TrainConfig from its saved JSON; one-line error naming `source` when it does not fit."""
    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(d, dict) or set(d) - known:
        raise DarkedgeError(f"{source}: not a darkedge train config")
    return TrainConfig(**d)
