"""Zero-reference training of an enhancer on a data set's own dark frames: no labels, no bright references.

Frames are sampled once from the clips into memory, then every step takes random crops from them, runs the
enhancer and minimises the four zero-reference losses (Adam, weight decay, gradient-norm clipping).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from darkedge.checkpoint import save_checkpoint
from darkedge.config import EnhancerTrainConfig
from darkedge.data.lists import DataIndex
from darkedge.data.video import count_frames, read_frames
from darkedge.enhance import EnhancerConfig, build_enhancer
from darkedge.enhance.losses import EXPOSURE_PATCH, WEIGHTS, zero_reference_loss
from darkedge.errors import DarkedgeError
from darkedge.fileio import save_figure, write_json
from darkedge.logs import progress
from darkedge.names import BUILTIN_DATA, HISTORY_FILE, SPLITS


@dataclass
class EnhancerJob:
    """`darkedge enhance train`: the frames it trains on (a data set's split), where the checkpoint goes, the seed,
    and the recipe, `enhancer` (config.EnhancerTrainConfig, the one `darkedge train` nests too)."""

    data: str = BUILTIN_DATA  # the data set whose frames it trains on, and which split
    split: str = "train"
    video_root: str | None = None
    out: str = "enhancer.pt"  # the checkpoint; its history goes to OUT without .pt/
    seed: int = 0
    enhancer: EnhancerTrainConfig = field(default_factory=lambda: EnhancerTrainConfig())

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DarkedgeError(f"split {self.split!r}: expected one of {', '.join(SPLITS)}")
        if Path(self.out).suffix != ".pt":
            raise DarkedgeError(f"{self.out}: an enhancer checkpoint name must end in .pt")

    def enhancer_config(self) -> EnhancerConfig:
        """The architecture the checkpoint holds."""
        return EnhancerConfig(name=self.enhancer.name, scale_factor=self.enhancer.scale_factor)


def sample_frames(index: DataIndex, job: EnhancerJob) -> tuple[list[np.ndarray], int]:
    """Evenly spaced frames from up to `enhancer.clips` randomly chosen clips; returns (frames, clips skipped)."""
    rng = np.random.default_rng(job.seed)
    order = rng.permutation(len(index.samples))[: job.enhancer.clips]
    frames: list[np.ndarray] = []
    skipped = 0
    for i in order:
        sample = index.samples[i]
        try:
            n = sample.num_frames or count_frames(sample.path)
            picks = np.linspace(0, n - 1, min(job.enhancer.frames, n)).round().astype(int)
            frames.extend(read_frames(sample.path, picks.tolist()))
        except DarkedgeError:
            skipped += 1
    if not frames:
        raise DarkedgeError(
            f"{index.root}: no readable frames to train the enhancer on ({skipped} clips skipped)"
        )
    return frames, skipped


def random_crops(frames: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """`count` random `size` x `size` crops from random frames, as float32 (count, 3, size, size) in [0, 1]."""
    crops = []
    for k in rng.integers(len(frames), size=count):
        frame = frames[k]
        top = rng.integers(frame.shape[0] - size + 1)
        left = rng.integers(frame.shape[1] - size + 1)
        crops.append(frame[top : top + size, left : left + size])
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def mean_brightness(
    enhancer: torch.nn.Module, frames: list[np.ndarray], device: torch.device
) -> tuple[float, float]:
    """Mean intensity of the frames before and after enhancement (output clamped to [0, 1] as a model sees it)."""
    raw_total = enhanced_total = 0.0
    for frame in frames:
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div(255).to(device)
        raw_total += x.mean().item()
        enhanced_total += enhancer(x).clamp(0, 1).mean().item()
    return raw_total / len(frames), enhanced_total / len(frames)


def train_enhancer(index: DataIndex, job: EnhancerJob) -> dict:
    """Train an enhancer on `index`'s frames; writes the checkpoint job.out and `<out without .pt>/history.json`.

    Returns the metrics: losses at the start and end, mean brightness before and after, frames used, clips
    skipped, seconds.
    """
    out = Path(job.out)
    cfg = job.enhancer
    start = time.perf_counter()
    torch.manual_seed(job.seed)
    rng = np.random.default_rng(job.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    frames, skipped = sample_frames(index, job)
    crop = min(cfg.crop, *(min(f.shape[:2]) for f in frames))
    if crop < EXPOSURE_PATCH:
        raise DarkedgeError(
            f"{index.root}: frames or crop smaller than the {EXPOSURE_PATCH}-pixel exposure patch"
        )
    enhancer = build_enhancer(job.enhancer_config()).to(device)
    optimiser = torch.optim.Adam(enhancer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    history = []
    enhancer.train()
    for step in (bar := progress(range(cfg.steps), desc="enhancer", unit="step", dynamic_ncols=True)):
        raw = random_crops(frames, crop, cfg.batch_size, rng).to(device)
        enhanced, curves = enhancer.enhance_with_curves(raw)
        terms = zero_reference_loss(raw, enhanced, curves)
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(enhancer.parameters(), cfg.grad_clip)
        optimiser.step()
        history.append({"step": step, **{name: value.item() for name, value in terms.items()}})
        bar.set_postfix(loss=f"{history[-1]['total']:.4f}")

    enhancer.eval()
    brightness_raw, brightness_enhanced = mean_brightness(
        enhancer, frames[:: max(1, len(frames) // 32)], device
    )
    window = max(1, cfg.steps // 10)
    metrics = {
        "loss_first": float(np.mean([h["total"] for h in history[:window]])),
        "loss_last": float(np.mean([h["total"] for h in history[-window:]])),
        "brightness_raw": brightness_raw,
        "brightness_enhanced": brightness_enhanced,
        "frames": len(frames),
        "clips_skipped": skipped,
        "crop": crop,
        "seconds": time.perf_counter() - start,
    }
    save_checkpoint(
        out,
        kind="enhancer",
        config=asdict(job.enhancer_config()),
        state_dict=enhancer.state_dict(),
        metrics=metrics,
        extra={"train_config": asdict(job)},
    )
    stage_dir = out.with_suffix("")
    write_json(stage_dir / HISTORY_FILE, {"config": asdict(job), "metrics": metrics, "steps": history})
    plot_history(history, stage_dir / "loss.png")
    return metrics


def plot_history(history: list[dict], path: Path) -> None:
    """The total loss and each weighted term per step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["total"] for h in history], label="total", color="black")
    for name, weight in WEIGHTS.items():
        ax.plot(steps, [weight * h[name] for h in history], label=f"{weight:g} x {name}", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def train_from_data(job: EnhancerJob) -> dict:
    """`darkedge enhance train`: train on the frames of job.data's job.split, write job.out; returns the metrics."""
    from darkedge.data.lists import open_dataset

    index = open_dataset(job.data, job.split, video_root=job.video_root)
    return train_enhancer(index, job)
