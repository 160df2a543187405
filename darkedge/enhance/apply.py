"""Enhance a video, a frame folder or an image with an enhancer and write the result, optionally side by side.

Videos stream frame by frame (decode, enhance on OpenVINO / ONNX Runtime / PyTorch, encode), so a recording of
any length fits in memory; the output appears under its real name only once complete, and an interrupted run
leaves neither it nor its temporary file (data.writer.VideoWriter, fileio.cleanup_on_interrupt).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from torch import nn

from darkedge.data.video import (
    DEFAULT_FPS,
    IMAGE_EXTENSIONS,
    count_frames,
    frame_rate,
    iter_frames,
    reported_frame_count,
)
from darkedge.data.writer import VideoWriter
from darkedge.enhance import EnhancerConfig, build_enhancer, load_enhancer
from darkedge.enhance.frames import FrameEnhancer
from darkedge.errors import DarkedgeError
from darkedge.fileio import atomic_path
from darkedge.logs import progress as progress_bar
from darkedge.names import DEFAULT_RUN, ENHANCE_BACKENDS

DEFAULT_ENHANCER = Path(DEFAULT_RUN) / "enhancer.pt"  # what `darkedge train` writes


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


def default_output(source: Path) -> Path:
    """`clip.avi` -> `clip_enhanced.avi` beside it; a frame folder gives `<folder>_enhanced.avi`."""
    suffix = ".avi" if source.is_dir() else source.suffix
    return source.with_name(f"{source.stem if source.is_file() else source.name}_enhanced{suffix}")


def enhance_file(
    source: str | Path,
    enhancer: nn.Module,
    out: str | Path | None = None,
    side_by_side: bool = False,
    backend: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> Path:
    """Enhance `source` (video, frame folder or image) and write it to `out`; returns the path written.

    `backend` runs the enhancer (openvino, onnxruntime or torch; default: openvino, but torch for a single
    image, where converting the model would cost more than it saves) with `threads` (default: the runtime's).
    A video shows a progress bar with frames/s and the time left.
    """
    source = Path(source)
    if not source.exists():
        raise DarkedgeError(f"{source}: no such file or folder")
    out = Path(out) if out else default_output(source)
    is_image = source.suffix.lower() in IMAGE_EXTENSIONS
    backend = backend or ("torch" if is_image else ENHANCE_BACKENDS[0])
    frame_enhancer = FrameEnhancer(enhancer.eval(), backend, threads)

    def enhance(frame: np.ndarray) -> np.ndarray:
        enhanced = frame_enhancer(frame)
        return np.concatenate([frame, enhanced], axis=1) if side_by_side else enhanced

    if is_image:
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None:
            raise DarkedgeError(f"{source}: cannot be decoded as an image")
        _write_image(out, enhance(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    else:
        total = count_frames(source) if source.is_dir() else reported_frame_count(source)
        bar = progress_bar(total=total, desc=f"enhancing ({backend})", unit="frame", disable=not progress)
        with bar, VideoWriter(out, _frame_rate(source)) as video:
            for frame in iter_frames(source):
                video.write(enhance(frame))
                bar.update()
    return out


def _frame_rate(source: Path) -> float:
    """The container's frame rate, or DEFAULT_FPS when it gives none (frame folders, some streams)."""
    if source.is_dir():
        return DEFAULT_FPS
    cap = cv2.VideoCapture(str(source))
    fps = frame_rate(cap)
    cap.release()
    return fps


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
