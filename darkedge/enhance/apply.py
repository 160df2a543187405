"""Enhance a video, a frame folder or an image with an enhancer and write the result, optionally side by side."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from darkedge.data.video import IMAGE_EXTENSIONS, iter_frames
from darkedge.data.writer import VideoWriter
from darkedge.enhance import EnhancerConfig, build_enhancer, load_enhancer
from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path

DEFAULT_ENHANCER = Path("runs/latest/enhancer.pt")  # what `darkedge train` writes
DEFAULT_FPS = 25.0  # for frame folders and videos whose container gives no frame rate


def choose_enhancer(enhancer_path: str | Path | None = None, gamma: float | None = None) -> nn.Module:
    """Gamma correction when `gamma` is given, else the enhancer file (default: the latest run's)."""
    if gamma is not None:
        if enhancer_path is not None:
            raise DarkedgeError("give either an enhancer file or a gamma, not both")
        if gamma <= 0:
            raise DarkedgeError(f"gamma {gamma}: must be positive")
        return build_enhancer(EnhancerConfig(name="gamma", gamma=gamma))
    path = Path(enhancer_path) if enhancer_path is not None else DEFAULT_ENHANCER
    if enhancer_path is None and not path.is_file():
        raise DarkedgeError(
            f"{path}: no enhancer; train one (`darkedge enhance train` or `darkedge train`), "
            "pass --enhancer PATH, or use --gamma 1.8"
        )
    return load_enhancer(path)


@torch.no_grad()
def enhance_frame(enhancer: nn.Module, frame: np.ndarray) -> np.ndarray:
    """One RGB uint8 (H, W, 3) frame through the enhancer, clamped back to RGB uint8."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    y = enhancer(x).clamp(0, 1)[0].permute(1, 2, 0)
    return (y * 255).round().to(torch.uint8).numpy()


def default_output(source: Path) -> Path:
    """`clip.avi` -> `clip_enhanced.avi` beside it; a frame folder gives `<folder>_enhanced.avi`."""
    suffix = ".avi" if source.is_dir() else source.suffix
    return source.with_name(f"{source.stem if source.is_file() else source.name}_enhanced{suffix}")


def enhance_file(
    source: str | Path, enhancer: nn.Module, out: str | Path | None = None, side_by_side: bool = False
) -> Path:
    """Enhance `source` (video, frame folder or image) and write it to `out`; returns the path written."""
    source = Path(source)
    if not source.exists():
        raise DarkedgeError(f"{source}: no such file or folder")
    out = Path(out) if out else default_output(source)
    enhancer.eval()

    def enhance(frame: np.ndarray) -> np.ndarray:
        enhanced = enhance_frame(enhancer, frame)
        return np.concatenate([frame, enhanced], axis=1) if side_by_side else enhanced

    if source.suffix.lower() in IMAGE_EXTENSIONS:
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None:
            raise DarkedgeError(f"{source}: cannot be decoded as an image")
        _write_image(out, enhance(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    else:
        with VideoWriter(out, _frame_rate(source)) as video:  # frame by frame: long recordings fit in memory
            for frame in iter_frames(source):
                video.write(enhance(frame))
    return out


def _frame_rate(source: Path) -> float:
    """The container's frame rate, or DEFAULT_FPS when it gives none (frame folders, some streams)."""
    if source.is_dir():
        return DEFAULT_FPS
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return fps if fps and fps > 0 else DEFAULT_FPS


def _write_image(out: Path, frame: np.ndarray) -> None:
    """Encode by `out`'s extension and write atomically."""
    if out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DarkedgeError(
            f"{out}: cannot write an image with extension {out.suffix!r} (use {', '.join(IMAGE_EXTENSIONS)})"
        )
    ok, data = cv2.imencode(out.suffix, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DarkedgeError(f"{out}: OpenCV could not encode the image")
    with atomic_path(out) as tmp:
        tmp.write_bytes(data.tobytes())
