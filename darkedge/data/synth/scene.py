"""Synthetic indoor scenes: walls, floors, furniture and lamps.

A scene is what the camera sees without the actor: the surface colours (sRGB), how brightly each pixel
is lit (lamp pools, vignetting, the lamps' colour) and the light that lamps in view emit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from darkedge.data.synth.figure import Color, random_color, shade


@dataclass
class Scene:
    """Background surface colours, the light falling on each pixel, and light emitted by lamps in view."""

    background: np.ndarray  # (H, W, 3) uint8 sRGB
    light: np.ndarray  # (H, W, 3) float32, linear illumination (1 = evenly lit)
    emission: np.ndarray  # (H, W, 3) float32, linear light from lamp bulbs, relative to the lit scene
    horizon: int  # first row of the floor


def _gradient(h: int, w: int, top: Color, bottom: Color) -> np.ndarray:
    """A vertical colour gradient, float32 (h, w, 3)."""
    t = np.linspace(0.0, 1.0, max(h, 1), dtype=np.float32)[:, None, None]
    col = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.broadcast_to(col, (h, w, 3)).copy()


def _texture(rng: np.random.Generator, h: int, w: int, img: np.ndarray) -> None:
    """Wall texture in place: nothing, stripes, bricks or soft blotches."""
    kind = rng.integers(4)
    k = float(rng.uniform(0.82, 0.94))
    if kind == 1:
        step = int(rng.integers(6, 16))
        for x in range(0, w, step * 2):
            img[:, x : x + step] *= k
    elif kind == 2:
        bh, bw = int(rng.integers(5, 10)), int(rng.integers(12, 24))
        for row, y in enumerate(range(0, h, bh)):
            img[y : y + 1] *= k
            for x in range((row % 2) * bw // 2, w, bw):
                img[y : y + bh, x : x + 1] *= k
    elif kind == 3:
        blotch = rng.uniform(k, 1.0, (4, 6, 1)).astype(np.float32)
        img *= cv2.resize(blotch, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]


def make_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A random room: wall and floor, furniture, 0-2 lamps, uneven lighting."""
    horizon = int(rng.uniform(0.35, 0.62) * height)
    wall = _gradient(
        horizon, width, random_color(rng, (0, 0.5), (0.4, 0.95)), random_color(rng, (0, 0.5), (0.3, 0.85))
    )
    _texture(rng, horizon, width, wall)
    floor = _gradient(
        height - horizon,
        width,
        random_color(rng, (0, 0.6), (0.2, 0.6)),
        random_color(rng, (0, 0.6), (0.3, 0.8)),
    )
    img = np.concatenate([wall, floor]).clip(0, 255).astype(np.uint8)
    line = shade(tuple(int(c) for c in img[-1, 0]), 0.7)
    if rng.random() < 0.5:  # floor boards converging on a vanishing point
        vx = rng.uniform(0, width)
        for x in np.linspace(-width, 2 * width, int(rng.integers(6, 14))):
            cv2.line(img, (int(vx), horizon), (int(x), height), line, 1, cv2.LINE_AA)
    else:  # tiles: rows closer together toward the horizon
        for k in range(1, 8):
            y = horizon + int((height - horizon) * (k / 8) ** 1.6)
            cv2.line(img, (0, y), (width, y), line, 1, cv2.LINE_AA)
    cv2.line(img, (0, horizon), (width, horizon), shade(line, 0.8), 1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):  # cabinets, shelves, doors, pictures and windows
        w = int(rng.uniform(0.08, 0.35) * width)
        x = int(rng.uniform(-0.1, 1.0) * width)
        on_floor = rng.random() < 0.6
        h = int(rng.uniform(0.15, 0.6) * height)
        bottom = (
            horizon + int(rng.uniform(0, 0.08) * height) if on_floor else int(rng.uniform(0.2, 0.9) * horizon)
        )
        color = random_color(rng, (0, 0.7), (0.15, 0.9))
        cv2.rectangle(img, (x, bottom - h), (x + w, bottom), color, -1, cv2.LINE_AA)
        cv2.rectangle(img, (x, bottom - h), (x + w, bottom), shade(color, 0.6), 1, cv2.LINE_AA)
        for k in range(1, int(rng.integers(1, 4))):  # shelves or panels
            y = bottom - h * k // 4
            cv2.line(img, (x, y), (x + w, y), shade(color, 0.7), 1, cv2.LINE_AA)

    light, emission = _lighting(rng, width, height, horizon)
    return Scene(img, light, emission, horizon)


def _lighting(
    rng: np.random.Generator, width: int, height: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dim ambient light, 1-2 lamps (a bright bulb and a pool of light each), maybe a lit window, vignetting."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.full((height, width), rng.uniform(0.05, 0.4), np.float32)
    emitters = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        lx, ly = rng.uniform(0, width), rng.uniform(0, horizon)
        sigma = rng.uniform(0.15, 0.45) * width
        pool_y = ly + rng.uniform(0.2, 0.6) * height
        light += rng.uniform(1.5, 4.0) * np.exp(-((xx - lx) ** 2 + (yy - pool_y) ** 2) / (2 * sigma**2))
        axes = (max(1, int(rng.uniform(0.012, 0.03) * width)), max(1, int(rng.uniform(0.006, 0.02) * width)))
        cv2.ellipse(
            emitters, (int(lx), int(ly)), axes, 0, 0, 360, float(rng.uniform(20, 60)), -1, cv2.LINE_AA
        )
    if rng.random() < 0.3:  # a window with street light behind it, or a screen
        x, y = int(rng.uniform(0, 0.85) * width), int(rng.uniform(0.05, 0.5) * horizon)
        w, h = int(rng.uniform(0.08, 0.2) * width), int(rng.uniform(0.1, 0.3) * height)
        cv2.rectangle(emitters, (x, y), (x + w, y + h), float(rng.uniform(1.5, 5)), -1, cv2.LINE_AA)
    emitters += cv2.GaussianBlur(emitters, (0, 0), 0.025 * width) * 0.6  # glow around light sources
    r2 = ((xx - width / 2) ** 2 + (yy - height / 2) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    light *= 1.0 - rng.uniform(0.0, 0.8) * r2
    tint = np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.5, 1.0)], np.float32)
    return light[..., None] * tint, emitters[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
