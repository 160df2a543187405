"""The objects the actions use: a chair (Sit, Stand), a box (Pick, Push), a cup (Drink), a jug, table and cup (Pour).

Props live in the actor's body frame at its starting place (see figure.View), so they turn with the
viewpoint; held props follow the acting hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from darkedge.data.synth.actions import REACH, SEATED, Pose
from darkedge.data.synth.figure import SHIFT, Actor, Color, View, ground_height, joints, random_color, shade


def _project(view: View, pts: np.ndarray, fwd: float = 0.0) -> np.ndarray:
    """Body-frame points at the starting place (moved `fwd` along the facing) -> fixed-point screen points."""
    return view.to_screen(view.to_world(np.asarray(pts, np.float64), fwd, 0.0, view.yaw))


def _segments(img: np.ndarray, view: View, segments: list[tuple], color: Color, width: int) -> None:
    """Thick lines between body-frame points (chair and table frames)."""
    for a, b in segments:
        pa, pb = _project(view, [a, b])
        cv2.line(img, tuple(pa), tuple(pb), color, width, cv2.LINE_AA, SHIFT)


def _vessel(
    img: np.ndarray, center: np.ndarray, angle_deg: float, size: tuple[int, int], color: Color
) -> None:
    """A cup or jug: a rectangle (pixels) at a fixed-point screen position, tilted by `angle_deg`."""
    w, h = size
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ rot.T
    pts = (corners * (1 << SHIFT) + center).astype(np.int32)
    cv2.fillConvexPoly(img, pts, color, cv2.LINE_AA, SHIFT)
    cv2.polylines(img, [pts], True, shade(color, 0.6), 1, cv2.LINE_AA, SHIFT)


def _hands_on_ground(actor: Actor, p: Pose) -> np.ndarray:
    """Midpoint of both hands in the body frame, measured from the floor."""
    j = joints(actor, p)
    return (j["hand_l"] + j["hand_r"]) / 2 + [0.0, ground_height(j) + p["lift"], 0.0]


@dataclass
class Props:
    """One clip's props: colour, box corners and where the hands grip it, seat and table heights."""

    action: str
    actor: Actor
    color: Color
    box: np.ndarray  # (8, 3) corners, near-top edge at the hands of the REACH pose
    grip: np.ndarray  # hands of the REACH pose
    seat: float
    table: float

    @classmethod
    def random(cls, action: str, actor: Actor, rng: np.random.Generator) -> Props:
        """Props sized to the actor: the box meets its reaching hands, the seat its sitting pelvis."""
        grip = _hands_on_ground(actor, REACH)
        x0, x1, depth = grip[0] - 0.02, grip[0] - 0.02 + rng.uniform(0.3, 0.5), rng.uniform(0.3, 0.5)
        box = np.array(
            [[x, y, z] for x in (x0, x1) for y in (0.0, grip[1] + 0.03) for z in (-depth / 2, depth / 2)]
        )
        seat = ground_height(joints(actor, SEATED)) - 0.06
        return cls(
            action, actor, random_color(rng, (0.2, 0.9), (0.4, 1.0)), box, grip, seat, rng.uniform(0.75, 0.95)
        )

    def px(self, view: View, length: float) -> int:
        """A length in leg units as whole pixels (at least 1)."""
        return max(1, int(round(length * view.scale)))

    def draw_behind(self, img: np.ndarray, view: View, p: Pose) -> None:
        """Props the actor stands in front of or holds with both hands: chair, table, box."""
        if self.action in ("Sit", "Stand"):
            s = self.seat
            chair = [((-0.8, s, 0), (-0.2, s, 0)), ((-0.8, s, 0), (-0.85, s + 0.55, 0))]
            chair += [((-0.75, 0, 0), (-0.75, s, 0)), ((-0.25, 0, 0), (-0.25, s, 0))]
            _segments(img, view, chair, self.color, self.px(view, 0.06))
        elif self.action == "Pour":
            t = self.table
            table = [((0.45, t, 0), (1.2, t, 0)), ((0.5, 0, 0), (0.5, t, 0)), ((1.15, 0, 0), (1.15, t, 0))]
            _segments(img, view, table, shade(self.color, 0.6), self.px(view, 0.05))
        elif self.action in ("Pick", "Push"):
            held = p["hold"] > 0.5
            corners = self.box + (_hands_on_ground(self.actor, p) - self.grip if held else 0.0)
            hull = cv2.convexHull(_project(view, corners, p["fwd"] if held else 0.0))
            cv2.fillConvexPoly(img, hull, self.color, cv2.LINE_AA, SHIFT)
            cv2.polylines(img, [hull], True, shade(self.color, 0.6), 1, cv2.LINE_AA, SHIFT)

    def draw_held(self, img: np.ndarray, view: View, p: Pose, hand: np.ndarray) -> None:
        """Props in the acting hand (world position `hand`): the cup, or the jug pouring into a cup."""
        at_hand = view.to_screen(hand)
        if self.action == "Drink":
            _vessel(img, at_hand, p["head"] * 2.5, (self.px(view, 0.13), self.px(view, 0.19)), self.color)
        elif self.action == "Pour":
            cup = _project(view, [0.95, self.table + 0.07, 0.0])
            _vessel(img, cup, 0.0, (self.px(view, 0.12), self.px(view, 0.16)), shade(self.color, 1.4))
            if p["tilt"] > 80:
                cv2.line(
                    img, tuple(at_hand), tuple(cup), (200, 220, 255), self.px(view, 0.025), cv2.LINE_AA, SHIFT
                )
            forward = 1 if math.cos(math.radians(view.yaw)) >= 0 else -1
            _vessel(img, at_hand, forward * p["tilt"], (self.px(view, 0.16), self.px(view, 0.28)), self.color)
