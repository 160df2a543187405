"""Every training hyper-parameter in one dataclass, the presets `darkedge train --preset` picks from, and the
command line's way to every field: `--set key=value` (typed from the dataclass) and `--config FILE` (JSON).

Precedence, lowest first: the preset, then the --config file, then explicit flags and --set. The preset is the
base the others change: `--preset`, `--set preset=...` or the file's "preset" (in that order) chooses it.

The student may be smaller than the teacher in every way (`student_*`): another encoder, a width multiplier, fewer
frames, a smaller crop. Its clips are the teacher's clip seen coarser (`TrainConfig.sampling`, darkedge.data.views):
every k-th of the teacher's frames, so the same span of video at k times the stride, and the teacher's crop at a lower
resolution, so the same field of view.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path
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
    # optimisation, the same budget for every classifier stage; at 12 epochs the cosine schedule ran out while
    # the teacher was still climbing (train top-1 52 %): 24 reach 92-95 % on every seed (benchmarks/results/premise.md)
    epochs: int = 24
    batch_size: int = 8
    accumulate: int = 1  # gradient accumulation: micro-batches per optimiser step
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    amp: bool = True  # bf16 autocast, CUDA only
    eval_every: int = 0  # also evaluate every N epochs (0: after the last epoch only)
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
    pretrained: str | None = None  # a local encoder weight file (timm-style ViT, IG65M R(2+1)D)
    # the student starts from the raw baseline's initial weights ("scratch", the paper's) or from the teacher's
    # classifier ("teacher", which needs the same architecture); either way only the student runs at inference
    student_init: str = "scratch"
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
    enhancer_steps: int = 400  # zero-reference loss 1.6 after 40 steps, 0.6 after 400 (4 s on 2 cores)
    enhancer_batch_size: int = 8
    enhancer_crop: int = 32  # random square crops of the training clips' frames
    enhancer_clips: int = 32  # training clips the frames come from
    enhancer_frames: int = 4  # frames taken from each of those clips
    enhancer_lr: float = 1e-3  # the Zero-DCE paper's 1e-4 needs ~10x the steps (paper preset)
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
        for name in AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise DarkedgeError(f"{name} {getattr(self, name)}: must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise DarkedgeError(
                f"workers {self.workers}: must be 0 or more (or none: chosen from the machine)"
            )
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


# Counts that make no sense below one.
AT_LEAST_ONE = ("num_frames", "stride", "resize", "crop", "eval_clips", "eval_crops", "epochs",
                "batch_size", "accumulate", "head_depth", "enhancer_batch_size", "enhancer_clips",
                "enhancer_frames")  # fmt: skip

# What an existing run (--run, --resume) may change: where its clips are and how it runs, never what its checkpoints
# hold or how its stages compare (architecture, sampling, optimisation, seed).
RUN_SETTINGS = ("data", "video_root", "epochs", "workers", "eval_every", "amp")


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
        input_norm="fixed",  # a pretrained ViT expects the ImageNet mean / std it was trained with
        enhancer="zero_dce",
        enhancer_scale=1.0,
        enhancer_steps=2000,
        enhancer_crop=112,
        enhancer_clips=256,
        enhancer_lr=1e-4,
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
    """The preset's config with `overrides` (None values ignored), each checked against its field's type;
    one-line error for an unknown preset or setting."""
    check_preset(preset)
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(PRESETS[preset], **typed_settings(given, "train config"))


def check_preset(preset: str) -> None:
    """One-line error for a preset that does not exist."""
    if preset not in PRESETS:
        raise DarkedgeError(f"--preset {preset}: no such preset (choose from {', '.join(PRESETS)})")


def field_types() -> dict[str, Any]:
    """TrainConfig's field names and their types (resolved from the annotations)."""
    return typing.get_type_hints(TrainConfig)


def check_name(name: str, source: str) -> None:
    """One-line error, with the nearest known name, when `name` is not a TrainConfig field."""
    names = [f.name for f in fields(TrainConfig)]
    if name not in names:
        near = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(names)})"
        raise DarkedgeError(f"{source}: unknown setting '{name}'{hint}")


def parse_value(kind: Any, text: str) -> Any:
    """`text` as a value of the type `kind`: bool, int, float, str, `X | None`, tuple[...] or list[...].

    Raises ValueError (the caller names the setting). "none" / "null" is None where the type allows it; a
    sequence is comma-separated or a JSON list.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        return _first_fit([a for a in args if a is not type(None)], lambda option: parse_value(option, text))
    if origin in (tuple, list):
        if text.strip().startswith("["):
            return check_value(kind, json.loads(text))
        items = [t.strip() for t in text.split(",") if t.strip()]
        parsed = [
            parse_value(t, item) for t, item in zip(_element_types(kind, len(items)), items, strict=True)
        ]
        return tuple(parsed) if origin is tuple else parsed
    if kind is bool:
        word = text.strip().lower()
        if word not in BOOL_WORDS:
            raise ValueError(text)
        return BOOL_WORDS[word]
    if kind in (int, float):
        return kind(text.strip())
    if kind is str:
        return text
    raise ValueError(f"settings of type {kind} cannot be given on the command line")


def check_value(kind: Any, value: Any) -> Any:
    """`value` (from JSON or Python) checked against the type `kind`; a sequence becomes the field's tuple or
    list. Raises ValueError when it does not fit (an int is a float, a bool is not an int)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _first_fit([a for a in args if a is not type(None)], lambda option: check_value(option, value))
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ValueError(value)
        items = [check_value(t, v) for t, v in zip(_element_types(kind, len(value)), value, strict=True)]
        return tuple(items) if origin is tuple else items
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (bool, str) and isinstance(value, kind):
        return value
    raise ValueError(value)


BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _first_fit(options: list[Any], convert: Any) -> Any:
    """`convert(option)` for the first option that does not raise ValueError."""
    for option in options:
        try:
            return convert(option)
        except ValueError:
            continue
    raise ValueError(options)


def _element_types(kind: Any, count: int) -> list[Any]:
    """The type of each of `count` items of a tuple[...] or list[...] type; ValueError for a wrong count."""
    args = typing.get_args(kind)
    if not args:
        raise ValueError(kind)
    if typing.get_origin(kind) is list or args[-1] is Ellipsis:
        return [args[0]] * count
    if len(args) != count:
        raise ValueError(count)
    return list(args)


TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    type(None): "none",
}


def type_name(kind: Any) -> str:
    """How a field's type reads in an error message: 'an integer', 'a string or none', 'a list of numbers'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {type_name(args[0]).split(' ', 1)[-1] + 's' if args else 'values'} (a,b or [a, b])"
    return TYPE_NAMES.get(kind, str(kind))


def typed_settings(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """Python or JSON values checked against TrainConfig's field types; one-line error naming `source` otherwise."""
    kinds = field_types()
    typed = {}
    for name, value in settings.items():
        check_name(name, source)
        try:
            typed[name] = check_value(kinds[name], value)
        except ValueError:
            raise DarkedgeError(
                f"{source}: {name} {json.dumps(value)} is not {type_name(kinds[name])}"
            ) from None
    return typed


def parse_settings(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` items as typed values; one-line error for a bad item, key or value."""
    kinds = field_types()
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise DarkedgeError(f"--set {pair}: expected key=value, e.g. --set lr=1e-3")
        check_name(name, f"--set {pair}")
        try:
            value = parse_value(kinds[name], text)
        except (ValueError, json.JSONDecodeError):
            raise DarkedgeError(
                f"--set {pair}: {name} takes {type_name(kinds[name])}, not {text!r}"
            ) from None
        if name in settings and settings[name] != value:
            raise DarkedgeError(f"--set {name}: given twice ({settings[name]!r} and {value!r})")
        settings[name] = value
    return settings


def merge_settings(flags: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """Explicit flags (None: not given) and --set values together; one-line error where the two disagree."""
    merged = dict(sets)
    for name, value in flags.items():
        if value is None:
            continue
        check_name(name, f"--{name.replace('_', '-')}")
        if name in sets and sets[name] != value:
            raise DarkedgeError(
                f"--{name.replace('_', '-')} {value} and --set {name}={sets[name]} disagree; give one of them"
            )
        merged[name] = value
    return merged


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON file: a mapping of TrainConfig fields (any subset), or a run's config.json (its
    "train" section). Values are checked against the fields' types; one-line error naming the file otherwise."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise DarkedgeError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DarkedgeError(f"{path}: not a JSON config file ({str(e).splitlines()[0]})") from None
    if isinstance(content, dict) and isinstance(content.get("train"), dict) and "class_names" in content:
        content = content["train"]  # a run's config.json
    if not isinstance(content, dict):
        raise DarkedgeError(f'{path}: a config file holds a JSON object of settings, e.g. {{"lr": 0.001}}')
    return typed_settings(content, str(path))


def resolve_config(settings: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """A new run's config: the preset, changed by the --config file, changed by the typed `settings` (flags and
    --set). The preset is `settings`' "preset", else the file's, else "small"."""
    from_file = read_config_file(config_file) if config_file else {}
    preset = settings.get("preset") or from_file.get("preset") or "small"
    check_preset(preset)
    given = {**from_file, **typed_settings(settings, "--set"), "preset": preset}
    return replace(PRESETS[preset], **given)


def run_changes(current: TrainConfig, settings: dict[str, Any], run: str) -> dict[str, Any]:
    """The settings that would change an existing run's config; one-line error for any it must keep."""
    changes = {k: v for k, v in typed_settings(settings, "--set").items() if getattr(current, k) != v}
    kept = sorted(set(changes) - set(RUN_SETTINGS))
    if kept:
        raise DarkedgeError(
            f"--set {kept[0]}: {run} keeps the settings it was made with (it may change only "
            f"{', '.join(RUN_SETTINGS)}); start a new run instead"
        )
    return changes


# Fields added after runs were first saved, with the value such a run was trained with (not today's default): an old
# run resumed or extended keeps its recipe instead of silently taking a new one.
BEFORE_FIELD = {"input_norm": "fixed"}


def config_from_dict(d: dict[str, Any], source: str) -> TrainConfig:
    """Rebuild a TrainConfig from its saved JSON; one-line error naming `source` when it does not fit."""
    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(d, dict) or set(d) - known:
        raise DarkedgeError(f"{source}: not a darkedge train config")
    return TrainConfig(**{**BEFORE_FIELD, **d})
