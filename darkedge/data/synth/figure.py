"""The synthetic actor: body proportions and clothes, forward kinematics of a pose, and drawing with cv2.

Body frame: x forward, y up, z to the figure's left, in leg lengths, pelvis at the origin. The world is
the body frame turned by a yaw about y (0 = facing right, 90 = facing the camera) and moved by the root;
the camera looks along +z (orthographic), so screen x = world x and depth = world z.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

from darkedge.data.synth.actions import Pose

SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions for smooth anti-aliased motion
Color = tuple[int, int, int]


def random_color(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Color:
    """An sRGB colour from random hue and the given saturation and value ranges."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class Actor:
    """Limb lengths and widths (leg lengths) and clothing colours of one figure."""

    thigh: float
    shin: float
    torso: float
    neck: float
    head: float
    upper_arm: float
    forearm: float
    shoulder_w: float
    hip_w: float
    limb_w: float
    torso_w: float
    shirt: Color
    trousers: Color
    skin: Color
    hair: Color
    shoes: Color
    long_sleeves: bool

    @classmethod
    def random(cls, rng: np.random.Generator) -> Actor:
        """A random adult: proportions within a plausible range, clothes of any colour."""
        thigh = rng.uniform(0.47, 0.53)
        tone = rng.uniform(0.35, 0.95)
        return cls(
            thigh=thigh,
            shin=1.0 - thigh,
            torso=rng.uniform(0.55, 0.66),
            neck=rng.uniform(0.07, 0.1),
            head=rng.uniform(0.11, 0.135),
            upper_arm=rng.uniform(0.3, 0.36),
            forearm=rng.uniform(0.28, 0.33),
            shoulder_w=rng.uniform(0.3, 0.42),
            hip_w=rng.uniform(0.18, 0.26),
            limb_w=rng.uniform(0.08, 0.12),
            torso_w=rng.uniform(0.2, 0.3),
            shirt=random_color(rng, (0.2, 0.9), (0.35, 1.0)),
            trousers=random_color(rng, (0.1, 0.8), (0.2, 0.8)),
            skin=(int(255 * tone), int(205 * tone), int(170 * tone)),
            hair=random_color(rng, (0.2, 0.7), (0.05, 0.5)),
            shoes=random_color(rng, (0.0, 0.5), (0.05, 0.4)),
            long_sleeves=bool(rng.random() < 0.5),
        )

    @property
    def height(self) -> float:
        """Standing height in leg lengths (pelvis to the top of the head plus the legs)."""
        return 1.0 + self.torso + self.neck + 2 * self.head


def _limb(start: np.ndarray, pitch_deg: float, abd_deg: float, side: float, length: float) -> np.ndarray:
    """End point of a segment from `start` at a pitch (0 = down, 90 = forward) and abduction (out to the side)."""
    p, a = math.radians(pitch_deg), math.radians(abd_deg)
    d = np.array([math.sin(p) * math.cos(a), -math.cos(p) * math.cos(a), side * math.sin(a)])
    return start + length * d


def joints(actor: Actor, p: Pose) -> dict[str, np.ndarray]:
    """3-D joint positions in the body frame (pelvis at the origin, before ground contact)."""
    lean = math.radians(p["torso"])
    up = np.array([math.sin(lean), math.cos(lean), 0.0])
    j: dict[str, np.ndarray] = {"pelvis": np.zeros(3), "neck": actor.torso * up}
    head_pitch = math.radians(p["torso"] + p["head"])
    j["head"] = j["neck"] + (actor.neck + actor.head) * np.array(
        [math.sin(head_pitch), math.cos(head_pitch), 0]
    )
    for s, side in (("l", 1.0), ("r", -1.0)):
        j[f"hip_{s}"] = np.array([0.0, 0.0, side * actor.hip_w / 2])
        j[f"knee_{s}"] = _limb(j[f"hip_{s}"], p[f"hip_{s}"], 0, side, actor.thigh)
        shin_pitch = p[f"hip_{s}"] - p[f"knee_{s}"]
        j[f"ankle_{s}"] = _limb(j[f"knee_{s}"], shin_pitch, 0, side, actor.shin - 0.04)
        j[f"toe_{s}"] = _limb(j[f"ankle_{s}"], shin_pitch + 90, 0, side, 0.14)
        j[f"shoulder_{s}"] = j["neck"] * 0.95 + np.array([0.0, 0.0, side * actor.shoulder_w / 2])
        arm_pitch = p["torso"] + p[f"sh_{s}"]
        j[f"elbow_{s}"] = _limb(j[f"shoulder_{s}"], arm_pitch, p[f"abd_{s}"], side, actor.upper_arm)
        forearm_abd = p[f"abd_{s}"] + p[f"fab_{s}"]
        j[f"hand_{s}"] = _limb(j[f"elbow_{s}"], arm_pitch + p[f"elb_{s}"], forearm_abd, side, actor.forearm)
    return j


def ground_height(j: dict[str, np.ndarray]) -> float:
    """How high the pelvis must be for the lowest foot point to touch the floor."""
    return -min(j[k][1] for k in ("ankle_l", "ankle_r", "toe_l", "toe_r")) + 0.04


@dataclass
class View:
    """Where a figure stands on screen: pixels per leg length, root position, yaw in degrees."""

    scale: float
    x0: float
    ground_y: float
    yaw: float

    def to_world(self, pts: np.ndarray, fwd: float, height: float, yaw: float) -> np.ndarray:
        """Body-frame points (..., 3) -> world (x, y, depth), root moved `fwd` along its facing and up `height`."""
        y = math.radians(yaw)
        f = np.array([math.cos(y), 0.0, -math.sin(y)])
        left = np.array([math.sin(y), 0.0, math.cos(y)])
        heading = math.radians(self.yaw)
        root = fwd * np.array([math.cos(heading), 0.0, -math.sin(heading)]) + np.array([0.0, height, 0.0])
        return root + pts[..., :1] * f + pts[..., 1:2] * np.array([0.0, 1.0, 0.0]) + pts[..., 2:3] * left

    def to_screen(self, world: np.ndarray) -> np.ndarray:
        """World points -> fixed-point pixel coordinates for cv2 drawing (int32)."""
        x = self.x0 + world[..., 0] * self.scale
        y = self.ground_y - world[..., 1] * self.scale
        return np.round(np.stack([x, y], -1) * (1 << SHIFT)).astype(np.int32)


def shade(color: Color, k: float) -> Color:
    """A colour made darker (k < 1) or lighter (k > 1)."""
    return tuple(int(min(255, c * k)) for c in color)  # type: ignore[return-value]


def draw_figure(img: np.ndarray, actor: Actor, p: Pose, view: View) -> dict[str, np.ndarray]:
    """Draw the figure in pose `p` onto `img` (sRGB uint8) and return its world-space joints."""
    j = joints(actor, p)
    names = list(j)
    world = view.to_world(
        np.stack([j[n] for n in names]), p["fwd"], ground_height(j) + p["lift"], view.yaw + p["turn"]
    )
    w = dict(zip(names, world, strict=True))
    s = dict(zip(names, view.to_screen(world), strict=True))
    px = lambda v: max(1, int(round(v * view.scale)))  # noqa: E731
    sleeve = actor.shirt if actor.long_sleeves else actor.skin

    parts = []  # (depth, kind, args)
    for side in "lr":
        far = 0.78 if w[f"hip_{side}"][2] > w["pelvis"][2] + 1e-6 else 1.0
        parts += [
            (w[f"knee_{side}"], ("line", s[f"hip_{side}"], s[f"knee_{side}"], shade(actor.trousers, far), px(actor.limb_w * 1.3))),
            (w[f"ankle_{side}"], ("line", s[f"knee_{side}"], s[f"ankle_{side}"], shade(actor.trousers, far), px(actor.limb_w * 1.1))),
            (w[f"toe_{side}"], ("line", s[f"ankle_{side}"], s[f"toe_{side}"], shade(actor.shoes, far), px(actor.limb_w * 0.9))),
            (w[f"elbow_{side}"] - [0, 0, 0.01], ("line", s[f"shoulder_{side}"], s[f"elbow_{side}"], shade(actor.shirt, far), px(actor.limb_w))),
            (w[f"hand_{side}"] - [0, 0, 0.02], ("line", s[f"elbow_{side}"], s[f"hand_{side}"], shade(sleeve, far), px(actor.limb_w * 0.85))),
            (w[f"hand_{side}"] - [0, 0, 0.03], ("dot", s[f"hand_{side}"], shade(actor.skin, far), px(actor.limb_w * 0.6))),
        ]  # fmt: skip
    torso = np.stack([s["hip_l"], s["hip_r"], s["shoulder_r"], s["shoulder_l"]])
    parts.append(
        (
            w["pelvis"] * 0.5 + w["neck"] * 0.5,
            ("torso", torso, s["pelvis"], s["neck"], actor.shirt, px(actor.torso_w)),
        )
    )
    parts.append((w["head"] - [0, 0, 0.005], ("head", s["head"], s["neck"], px(actor.head), actor, view, p)))
    for _, part in sorted(parts, key=lambda dp: -dp[0][2]):
        _draw_part(img, part)
    return w


def _draw_part(img: np.ndarray, part: tuple) -> None:
    """Draw one body part: a capsule, a dot, the torso or the head."""
    kind = part[0]
    if kind == "line":
        _, a, b, color, width = part
        cv2.line(img, tuple(a), tuple(b), color, width, cv2.LINE_AA, SHIFT)
    elif kind == "dot":
        _, c, color, r = part
        cv2.circle(img, tuple(c), r << SHIFT, color, -1, cv2.LINE_AA, SHIFT)
    elif kind == "torso":
        _, quad, pelvis, neck, color, width = part
        cv2.fillConvexPoly(img, cv2.convexHull(quad), color, cv2.LINE_AA, SHIFT)
        cv2.line(img, tuple(pelvis), tuple(neck), color, width, cv2.LINE_AA, SHIFT)
    else:
        _, c, neck, r, actor, view, p = part
        cv2.line(img, tuple(neck), tuple(c), actor.skin, max(1, r), cv2.LINE_AA, SHIFT)
        cv2.circle(img, tuple(c), r << SHIFT, actor.hair, -1, cv2.LINE_AA, SHIFT)
        facing = math.radians(view.yaw + p["turn"])
        face = np.array([math.cos(facing), 0.3]) * r * 0.45 * (1 << SHIFT)
        face_visible = 0.35 + 0.65 * max(0.0, math.sin(facing))  # whole face when facing the camera
        fc = (int(c[0] + face[0]), int(c[1] + face[1]))
        cv2.circle(
            img, fc, int(r * (0.55 + 0.35 * face_visible)) << SHIFT, actor.skin, -1, cv2.LINE_AA, SHIFT
        )
