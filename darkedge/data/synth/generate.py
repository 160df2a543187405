"""`darkedge data synth`: the built-in dark-action data set, deterministic from a seed.

Each clip is an articulated figure (figure.py) doing one of ARID's actions (actions.py) in a room
(scene.py), rendered bright, then captured by a low-light camera (camera.py) and written as MJPG
.avi with ARID v1.0 lists split by scene. Every clip draws its randomness from (seed, class, clip), so
the output does not depend on the number of worker processes.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from darkedge.data.synth.actions import CLASSES, Timing, action_pose, mirror
from darkedge.data.synth.camera import SRGB_TO_LINEAR, Camera
from darkedge.data.synth.figure import Actor, View, draw_figure
from darkedge.data.synth.props import Props
from darkedge.data.synth.scene import Scene, make_scene
from darkedge.data.writer import write_video
from darkedge.errors import DarkedgeError
from darkedge.fileio import ignore_sigint, write_json, write_text
from darkedge.logs import progress as progress_bar
from darkedge.names import BUILTIN_DATA

DEFAULT_OUT = Path(BUILTIN_DATA)
LOCOMOTION = ("Walk", "Run", "Push", "Jump")


@dataclass
class SynthConfig:
    """Size, darkness and seed of the synthetic data set; saved as synth_config.json beside the clips."""

    seed: int = 0
    clips_per_class: int = 80
    frames: int = 32
    width: int = 128
    height: int = 96
    fps: float = 15.0
    scenes: int = 24
    test_scenes: int = 7
    darkness: float = 1.0
    bright: bool = False

    def __post_init__(self) -> None:
        """One-line errors for sizes that cannot make a data set."""
        if self.clips_per_class < 1 or self.frames < 1 or self.fps <= 0:
            raise DarkedgeError("synth: clips per class, frames and fps must be positive")
        if self.width < 32 or self.height < 24:
            raise DarkedgeError(f"synth: size {self.width}x{self.height} is too small (at least 32x24)")
        if not 1 <= self.test_scenes < self.scenes:
            raise DarkedgeError(f"synth: need 1 <= test scenes ({self.test_scenes}) < scenes ({self.scenes})")
        if self.darkness < 0:
            raise DarkedgeError(f"synth: darkness must be >= 0, got {self.darkness}")


@dataclass
class ClipJob:
    """One clip to make: its class, index, scene and file name."""

    label: int
    clip: int
    scene: int

    @property
    def name(self) -> str:
        """ARID-style relative path: Class/Class_scene_clip.avi (scenes and clips count from 1)."""
        cls = CLASSES[self.label]
        return f"{cls}/{cls}_{self.scene + 1}_{self.clip + 1}.avi"


def clip_jobs(cfg: SynthConfig) -> list[ClipJob]:
    """Every clip of the data set; each class visits the scenes in turn, from a different starting scene."""
    return [
        ClipJob(label, clip, (clip + label * 5) % cfg.scenes)
        for label in range(len(CLASSES))
        for clip in range(cfg.clips_per_class)
    ]


def held_out_scenes(cfg: SynthConfig) -> set[int]:
    """The scenes held out for the test split (never seen in training)."""
    order = np.random.default_rng([cfg.seed, 7]).permutation(cfg.scenes)
    return {int(s) for s in order[: cfg.test_scenes]}


def _place(
    cfg: SynthConfig, action: str, actor: Actor, timing: Timing, scene: Scene, rng: np.random.Generator
) -> View:
    """Viewpoint, size and position of the figure so that its path stays mostly in frame."""
    side = 0.0 if rng.random() < 0.5 else 180.0
    yaw = side + rng.uniform(-25, 25) if action in LOCOMOTION else side + rng.uniform(-35, 35)
    travel = [action_pose(action, t, timing)["fwd"] for t in np.linspace(0, 1, 9)]
    travel += [0.0, 1.0] if action in ("Pick", "Push") else [0.0]  # room for the box in front
    # how many leg lengths the path covers across the screen, plus the body itself
    span = (max(travel) - min(travel)) * abs(math.cos(math.radians(yaw))) + 1.0
    scale = min(rng.uniform(0.75, 0.95) * cfg.height / actor.height, 0.9 * cfg.width / span)
    fig_h = scale * actor.height
    low = max(scene.horizon + 0.1 * (cfg.height - scene.horizon), fig_h * 1.15)
    ground_y = rng.uniform(min(low, cfg.height - 2), cfg.height - 2)
    dx = [f * scale * math.cos(math.radians(yaw)) for f in travel]
    centre = rng.uniform(0.4, 0.6) * cfg.width
    return View(scale, centre - (min(dx) + max(dx)) / 2, ground_y, yaw)


def render_clip(cfg: SynthConfig, job: ClipJob) -> tuple[np.ndarray, np.ndarray]:
    """Render one clip: (bright sRGB frames, dark camera frames), uint8 (T, H, W, 3), deterministic."""
    rng = np.random.default_rng([cfg.seed, job.label, job.clip])
    scene = make_scene(np.random.default_rng([cfg.seed, 1_000_003, job.scene]), cfg.width, cfg.height)
    action = CLASSES[job.label]
    actor = Actor.random(rng)
    timing = Timing.random(action, rng)
    view = _place(cfg, action, actor, timing, scene, rng)
    props = Props.random(action, actor, rng)
    camera = Camera.random(rng)
    left_handed = math.cos(math.radians(view.yaw)) < 0  # act with the arm nearer the camera
    hand = "hand_l" if left_handed else "hand_r"

    frames = np.empty((cfg.frames, cfg.height, cfg.width, 3), np.uint8)
    for i in range(cfg.frames):
        p = action_pose(action, i / max(cfg.frames - 1, 1), timing)
        p = mirror(p) if left_handed else p
        img = scene.background.copy()
        props.draw_behind(img, view, p)
        world = draw_figure(img, actor, p, view)
        props.draw_held(img, view, p, world[hand])
        frames[i] = img

    in_view = np.all(
        frames == scene.background, axis=-1, keepdims=True
    )  # lamps hidden behind the actor stay hidden
    radiance = SRGB_TO_LINEAR[frames] * scene.light + scene.emission * in_view
    dark = camera.capture(radiance, cfg.darkness, rng)
    return frames, dark


def _make_clip(args: tuple[SynthConfig, ClipJob, Path]) -> np.ndarray:
    """Worker: render one clip, write it (and its bright version), return per-channel sum and sum of squares."""
    cfg, job, out = args
    bright, dark = render_clip(cfg, job)
    write_video(out / "clips" / job.name, dark, cfg.fps)
    if cfg.bright:
        write_video(out / "bright" / job.name, bright, cfg.fps)
    x = dark.reshape(-1, 3).astype(np.float64) / 255.0
    return np.concatenate([x.sum(0), (x**2).sum(0), [len(x)]])


def _prepare(out: Path, force: bool) -> None:
    """Refuse to write into a folder with other content; clear a previous synth output."""
    if out.exists() and not out.is_dir():
        raise DarkedgeError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / "synth_config.json").exists() and not force:
        raise DarkedgeError(
            f"{out}: folder is not empty and is not a synth output (use --force to write into it)"
        )
    for sub in ("clips", "bright"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for name in ("ARID_split1_train.txt", "ARID_split1_test.txt", "mapping_table.txt", "synth_stats.json"):
        (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def synthesize(
    cfg: SynthConfig, out: Path = DEFAULT_OUT, force: bool = False, workers: int = 2, progress: bool = True
) -> Path:
    """Generate the data set into `out` and return it; lists and synth_stats.json are written last."""
    out = Path(out)
    _prepare(out, force)
    write_json(out / "synth_config.json", asdict(cfg))
    start = time.perf_counter()
    jobs = clip_jobs(cfg)
    args = [(cfg, job, out) for job in jobs]
    sums = []
    with progress_bar(total=len(jobs), desc="synth", unit="clip", disable=not progress) as bar:
        if workers > 1:
            with get_context("fork").Pool(workers, initializer=ignore_sigint) as pool:
                for s in pool.imap(_make_clip, args, chunksize=4):
                    sums.append(s)
                    bar.update()
        else:
            for a in args:
                sums.append(_make_clip(a))
                bar.update()

    total = np.sum(sums, axis=0)
    n = total[6]
    mean = total[:3] / n
    std = np.sqrt(np.maximum(total[3:6] / n - mean**2, 0))
    held_out = held_out_scenes(cfg)
    lines = {"train": [], "test": []}
    for job in jobs:
        split = lines["test" if job.scene in held_out else "train"]
        split.append(f"{len(split)}\t{job.label}\t{job.name}")
    write_text(out / "mapping_table.txt", "".join(f"{i}\t{c}\n" for i, c in enumerate(CLASSES)))
    for split, rows in lines.items():
        write_text(out / f"ARID_split1_{split}.txt", "\n".join(rows) + "\n")
    stats = {
        "clips": {split: len(rows) for split, rows in lines.items()},
        "test_scenes": sorted(s + 1 for s in held_out),
        "raw_mean": [round(float(v), 4) for v in mean],
        "raw_std": [round(float(v), 4) for v in std],
        "seconds": round(time.perf_counter() - start, 2),
    }
    write_json(out / "synth_stats.json", stats)
    return out


def read_stats(out: Path) -> dict:
    """The counts, raw mean/std and generation time that synthesize() recorded."""
    return json.loads((Path(out) / "synth_stats.json").read_text())


def parse_size(text: str) -> tuple[int, int]:
    """'160x120' -> (160, 120), with a one-line error for anything else."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DarkedgeError(f"--size {text}: expected WIDTHxHEIGHT, e.g. 160x120") from None
    return width, height
