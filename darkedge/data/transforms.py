"""Spatial transforms on uint8 clips (T, H, W, 3): resize to a height, then a crop; the same crop for every frame.

Each crop is computed as a box on the resized frame, mapped back to the original frame, and cut and resized to
the output size in one cv2.resize per frame: the same pixels as resize-then-crop, with one resize instead of two.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

TRAIN_SCALES = (1.0, 0.875, 0.75, 0.66)  # multi-scale crop: side of the crop as a fraction of the short side

Box = tuple[float, float, float, float]  # (y, x, height, width) in resized-frame pixels


def crop_boxes(
    height: int, width: int, crop: int, train: bool, num_crops: int, rng: np.random.Generator | None
) -> list[Box]:
    """Crop boxes on a (height, width) frame: one random multi-scale box in training, else centre or three."""
    short = min(height, width)
    if train:
        side = short * TRAIN_SCALES[rng.integers(len(TRAIN_SCALES))]
        y = rng.uniform(0, height - side)
        x = rng.uniform(0, width - side)
        return [(y, x, side, side)]
    side = min(crop, short)
    centre = ((height - side) / 2, (width - side) / 2)
    if num_crops == 1:
        return [(*centre, side, side)]
    if num_crops != 3:
        raise ValueError(f"num_crops must be 1 or 3, not {num_crops}")
    if width >= height:  # three crops along the long side: start, centre, end
        return [(centre[0], x, side, side) for x in (0, centre[1], width - side)]
    return [(y, centre[1], side, side) for y in (0, centre[0], height - side)]


def cut_and_resize(clip: np.ndarray, box: Box, scale: float, size: int) -> np.ndarray:
    """Cut `box` (given on the frame resized by `scale`) out of every frame and resize it to size x size."""
    y, x, h, w = (v / scale for v in box)
    top, left = int(round(y)), int(round(x))
    bottom = max(top + 1, min(clip.shape[1], int(round(y + h))))
    right = max(left + 1, min(clip.shape[2], int(round(x + w))))
    shrinking = (bottom - top) > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack(
        [
            cv2.resize(frame[top:bottom, left:right], (size, size), interpolation=interpolation)
            for frame in clip
        ]
    )


def transform_clip(
    clip: np.ndarray,
    train: bool,
    resize: int = 128,
    crop: int = 112,
    num_crops: int = 1,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Views of a uint8 clip (T, H, W, 3) resized to `resize` px high: (T, crop, crop, 3) each.

    Training: one multi-scale random crop resized to `crop`, flipped horizontally half the time.
    Evaluation: the centre crop, or three crops along the long side when num_crops is 3.
    """
    if train and rng is None:
        raise ValueError("training transforms need a random generator")
    scale = resize / clip.shape[1]
    height, width = resize, clip.shape[2] * scale
    views = [
        cut_and_resize(clip, box, scale, crop)
        for box in crop_boxes(height, width, crop, train, num_crops, rng)
    ]
    if train and rng.random() < 0.5:
        views = [np.ascontiguousarray(view[:, :, ::-1]) for view in views]
    return views


def to_tensor(clip: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 tensor (3, T, H, W) in [0, 1]."""
    return torch.from_numpy(clip).permute(3, 0, 1, 2).float().div_(255.0)
