"""ARID's 11 actions as joint-angle keyframes over time (plus root motion), for the synthetic figure.

A pose is a dict of angles in degrees and root offsets in leg lengths. Angles: `torso` (lean forward),
`head` (nod forward), `hip_*` (thigh forward), `knee_*` (shank backward), `sh_*` (arm forward/up, relative
to the torso), `abd_*` (arm out to the side), `elb_*` (forearm bend), `fab_*` (forearm further out to the
side, for waving). Root: `fwd` (walk forward), `lift`
(off the ground), `turn` (yaw, degrees), `hold` (1 while the object is held), `tilt` (of a held jug).
Sit and Stand are the same keyframes in reverse order; Pick and Push share their bend-and-reach part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

CLASSES = ("Drink", "Jump", "Pick", "Pour", "Push", "Run", "Sit", "Stand", "Turn", "Walk", "Wave")

Pose = dict[str, float]

REST: Pose = {
    "torso": 0.0, "head": 0.0, "hip_l": 0.0, "hip_r": 0.0, "knee_l": 3.0, "knee_r": 3.0,
    "sh_l": 0.0, "sh_r": 0.0, "abd_l": 6.0, "abd_r": 6.0, "elb_l": 8.0, "elb_r": 8.0, "fab_l": 0.0, "fab_r": 0.0,
    "fwd": 0.0, "lift": 0.0, "turn": 0.0, "hold": 0.0, "tilt": 0.0,
}  # fmt: skip


def pose(**changes: float) -> Pose:
    """The rest pose with some values changed."""
    return {**REST, **changes}


def both(**angles: float) -> dict[str, float]:
    """Set a left/right pair at once: both(hip=30) == {"hip_l": 30, "hip_r": 30}."""
    return {f"{name}_{side}": value for name, value in angles.items() for side in "lr"}


# Bend forward and reach both hands toward an object in front at hip height: shared by Pick and Push.
REACH = pose(torso=55, **both(hip=45, knee=80, sh=-10, elb=5, abd=4))
# Standing, holding the picked-up object against the chest.
CARRY = pose(torso=3, hold=1, **both(sh=25, elb=95, abd=4))
SEATED = pose(torso=5, fwd=-0.45, **both(hip=90, knee=90, sh=12, elb=55))

KEYFRAMES: dict[str, list[tuple[float, Pose]]] = {
    "Drink": [
        (0.0, pose(hold=1, elb_r=20)),
        (0.3, pose(hold=1, sh_r=35, elb_r=110)),
        (0.45, pose(hold=1, sh_r=55, elb_r=145, abd_r=15, head=-20, torso=-4)),
        (0.7, pose(hold=1, sh_r=60, elb_r=145, abd_r=15, head=-28, torso=-6)),
        (0.85, pose(hold=1, sh_r=30, elb_r=100)),
        (1.0, pose(hold=1, elb_r=20)),
    ],
    "Pour": [
        (0.0, pose(hold=1, sh_r=20, elb_r=70, sh_l=20, elb_l=60)),
        (0.3, pose(hold=1, sh_r=65, elb_r=35, sh_l=20, elb_l=60, torso=8)),
        (0.45, pose(hold=1, sh_r=70, elb_r=35, sh_l=20, elb_l=60, torso=10, tilt=110)),
        (0.75, pose(hold=1, sh_r=70, elb_r=35, sh_l=20, elb_l=60, torso=10, tilt=115)),
        (0.88, pose(hold=1, sh_r=65, elb_r=35, sh_l=20, elb_l=60, torso=8)),
        (1.0, pose(hold=1, sh_r=20, elb_r=70, sh_l=20, elb_l=60)),
    ],
    "Pick": [
        (0.0, REST),
        (0.35, REACH),
        (0.45, {**REACH, "hold": 1}),
        (0.8, CARRY),
        (1.0, CARRY),
    ],
    "Push": [
        (0.0, REST),
        (0.35, REACH),
        (0.45, {**REACH, "hold": 1}),
        (1.0, {**REACH, "hold": 1, "fwd": 1.3}),
    ],
    "Sit": [
        (0.0, REST),
        (0.3, pose(torso=35, fwd=-0.12, **both(hip=40, knee=50, sh=15, elb=20))),
        (0.65, pose(torso=30, fwd=-0.4, **both(hip=80, knee=85, sh=20, elb=35))),
        (1.0, SEATED),
    ],
    "Jump": [
        (0.0, REST),
        (0.3, pose(torso=35, **both(hip=55, knee=95, sh=-45, elb=15))),
        (0.42, pose(torso=-2, **both(hip=-5, knee=0, sh=150, elb=10))),
        (0.52, pose(torso=5, lift=0.45, **both(hip=25, knee=45, sh=160, elb=15))),
        (0.64, pose(torso=30, **both(hip=50, knee=85, sh=40, elb=20))),
        (0.85, REST),
        (1.0, REST),
    ],
    "Turn": [(0.0, REST), (0.15, REST), (0.85, pose(turn=1.0)), (1.0, pose(turn=1.0))],
    "Wave": [
        (0.0, REST),
        (0.2, pose(sh_r=10, abd_r=95, fab_r=65, elb_r=0)),
        (0.85, pose(sh_r=10, abd_r=95, fab_r=65, elb_r=0)),
        (1.0, REST),
    ],
}
KEYFRAMES["Stand"] = [(1.0 - u, p) for u, p in reversed(KEYFRAMES["Sit"])]


def mirror(p: Pose) -> Pose:
    """The same pose done with the other side of the body (left and right swapped)."""
    swap = {"_l": "_r", "_r": "_l"}
    return {(k[:-2] + swap[k[-2:]] if k[-2:] in swap else k): v for k, v in p.items()}


def smoothstep(x: float) -> float:
    """Ease in and out; symmetric, so a reversed keyframe list plays the same motion backwards."""
    return x * x * (3.0 - 2.0 * x)


def keyframe_pose(action: str, u: float) -> Pose:
    """The pose of a one-shot action at progress u in [0, 1], eased between its keyframes."""
    keys = KEYFRAMES[action]
    u = min(max(u, 0.0), 1.0)
    for (u0, p0), (u1, p1) in pairwise(keys):
        if u <= u1:
            w = smoothstep((u - u0) / (u1 - u0)) if u1 > u0 else 1.0
            return {k: p0[k] + w * (p1[k] - p0[k]) for k in REST}
    return dict(keys[-1][1])


def gait(phase: float, hip: float, knee: float, arm: float) -> Pose:
    """Leg and arm swing of a walk cycle at `phase` (cycles), as offsets to add to a base pose."""
    s, c = math.sin(2 * math.pi * phase), math.cos(2 * math.pi * phase)
    return {
        "hip_l": hip * s, "hip_r": -hip * s,
        "knee_l": knee * max(0.0, c), "knee_r": knee * max(0.0, -c),
        "sh_l": -arm * s, "sh_r": arm * s,
    }  # fmt: skip


@dataclass
class Timing:
    """How one clip plays its action: when it starts and how long it lasts (fractions of the clip), cycles."""

    start: float = 0.0
    duration: float = 1.0
    cycles: float = 2.0
    phase: float = 0.0
    turn_deg: float = 180.0
    repeats: int = 1

    @classmethod
    def random(cls, action: str, rng: np.random.Generator) -> Timing:
        """Speed, start and amplitude variations of an actor performing `action`."""
        duration = float(rng.uniform(0.85, 1.0))
        cycles = {"Walk": (1.5, 2.5), "Run": (2.0, 3.0), "Wave": (2.0, 4.0), "Push": (1.0, 1.6)}.get(
            action, (1, 1)
        )
        return cls(
            start=float(rng.uniform(0.0, 1.0 - duration)),
            duration=duration,
            cycles=float(rng.uniform(*cycles)),
            phase=float(rng.uniform(0, 1)),
            turn_deg=float(rng.choice([-1, 1]) * rng.uniform(110, 200)),
            repeats=int(rng.integers(1, 3)) if action == "Jump" else 1,
        )


def action_pose(action: str, t: float, timing: Timing) -> Pose:
    """The pose at clip time t in [0, 1]: keyframes for one-shot actions, cycles for walk, run and wave."""
    u = (t - timing.start) / timing.duration
    if action in ("Walk", "Run"):
        phase = timing.phase + timing.cycles * t
        run = action == "Run"
        base = pose(torso=12, **both(elb=95, abd=10)) if run else pose(torso=3, **both(elb=15))
        swing = gait(phase, hip=40 if run else 24, knee=95 if run else 45, arm=45 if run else 22)
        p = {k: base[k] + swing.get(k, 0.0) for k in REST}
        p["fwd"] = (2.0 if run else 1.3) * timing.cycles * t
        p["lift"] = 0.12 * abs(math.sin(2 * math.pi * phase)) if run else 0.0
        return p
    if action == "Jump":
        u = min(max(u, 0.0), 1.0) * timing.repeats
        return keyframe_pose("Jump", u - math.floor(u) if u < timing.repeats else 1.0)
    p = keyframe_pose(action, u)
    if action == "Wave":
        p["fab_r"] += 30 * math.sin(2 * math.pi * timing.cycles * u) * min(p["abd_r"] / 95, 1.0)
    elif action == "Push" and u > 0.45:
        swing = gait(timing.phase + timing.cycles * (u - 0.45) / 0.55, hip=14, knee=20, arm=0)
        p = {k: p[k] + swing.get(k, 0.0) for k in REST}
    elif action == "Turn":
        p["turn"] *= timing.turn_deg
        step = gait(timing.cycles * 1.5 * u, hip=8, knee=20, arm=0) if 0.15 < u < 0.85 else {}
        p = {k: p[k] + step.get(k, 0.0) for k in REST}
    return p
