"""The validation split: part of the labelled training clips, held out so that a run can choose (its best epoch, its
teacher) without reading the test split's labels.

A validation score should say something about footage the model has not seen, so clips are held out a scene (or a
camera) at a time wherever the names say which: ARID's `Class_scene_clip` file names (scene numbers are shared
between classes: scene 2 holds Sit and Stand clips alike), or a folder per camera below each class folder
(`Class/<camera>/clip.mp4`). Clips whose names carry neither are each their own group, and the split is a plain
class-stratified one.

Every class gets at least one validation clip and keeps at least one training clip. Scenes are taken greedily, the
one that gives the most still-missing classes per clip first (ties broken by the seed), until every class has its
share (`fraction` of its clips, at least one); a class that only one scene holds falls back to single clips, and
the split says so.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkedge.data.lists import Sample

ARID_NAME = re.compile(r"^(?P<action>.+)_(?P<scene>\d+)_(?P<clip>\d+)$")  # Class_scene_clip


def group_of(path: Path, class_names: list[str]) -> str | None:
    """The scene or camera a clip was filmed in, where its path says so; None when it does not."""
    path = Path(path)
    match = ARID_NAME.match(path.stem if path.suffix else path.name)
    if match and match["action"] in class_names:
        return f"scene {int(match['scene'])}"
    if path.parent.parent.name in class_names:  # Class/<camera>/clip
        return f"camera {path.parent.name}"
    return None


@dataclass
class ValidationSplit:
    """The clips held out for validation, those left to train on, and how they were chosen."""

    train: list[Sample]
    val: list[Sample]
    groups: list[str]  # the scenes / cameras held out whole
    grouped_by: str  # "scene", "camera", "scene, camera" or "clip" (no names that say)
    ungrouped_classes: list[str] = field(default_factory=list)  # classes that fell back to single clips


def validation_split(
    samples: list[Sample], class_names: list[str], fraction: float, seed: int
) -> ValidationSplit:
    """Hold out about `fraction` of each class's `samples` (at least one clip per class that has two), whole
    scenes or cameras at a time where the names carry them; fixed by `seed`."""
    keys = [group_of(s.path, class_names) or f"clip {i}" for i, s in enumerate(samples)]
    members: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        members[key].append(i)
    count = Counter(s.label for s in samples)
    need = {c: max(1, round(fraction * n)) for c, n in count.items() if n >= 2}
    have: Counter = Counter()
    taken: Counter = Counter()  # clips of each class in validation
    rng = np.random.default_rng([seed, 4_217])
    order = [k for k in rng.permutation(sorted(members)).tolist()]
    chosen: list[str] = []

    def missing() -> set[int]:
        return {c for c, n in need.items() if have[c] < n}

    def fits(key: str) -> bool:  # every class keeps at least one training clip
        classes = Counter(samples[i].label for i in members[key])
        return all(count[c] - taken[c] - k >= 1 for c, k in classes.items())

    while missing():
        wanted = missing()
        best, best_gain = None, 0.0
        for key in order:
            if key in chosen or not fits(key):
                continue
            gain = sum(1 for c in {samples[i].label for i in members[key]} if c in wanted)
            gain /= len(members[key])
            if gain > best_gain:
                best, best_gain = key, gain
        if best is None:
            break
        chosen.append(best)
        for i in members[best]:
            have[samples[i].label] += 1
            taken[samples[i].label] += 1
    val = {i for key in chosen for i in members[key]}
    fallback = []
    for c in sorted(missing()):  # only one scene holds this class: single clips, not a whole scene
        pool = [i for i, s in enumerate(samples) if s.label == c and i not in val]
        picks = rng.permutation(len(pool))[: need[c] - have[c]]
        val.update(pool[j] for j in picks)
        fallback.append(class_names[c] if c < len(class_names) else str(c))
    kinds = sorted({key.split()[0] for key in chosen if not key.startswith("clip")})
    return ValidationSplit(
        train=[s for i, s in enumerate(samples) if i not in val],
        val=[s for i, s in enumerate(samples) if i in val],
        groups=sorted(key for key in chosen if not key.startswith("clip")),
        grouped_by=", ".join(kinds) or "clip",
        ungrouped_classes=fallback,
    )
