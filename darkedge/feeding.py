"""How a model is fed, defined once: the feeding spec every part passes whole.

A model takes float32 (B, 3, T, S, S) RGB clips in [0, 1] and normalises them inside itself; what differs from
model to model is which frames and pixels make the clip. `Feeding` says that: `frames` frames, `frame_step`
frames of video apart, each frame resized to `resize` px high and cropped to `crop` x `crop` (a random
multi-scale crop in training, the centre in evaluation and at inference). The run makes it
(TrainConfig.feeding), the data set cuts clips with it, the exports carry it in their metadata and `infer`,
`bench` and calibration read it back from there whole. How often `infer` starts a window is not part of it: that
is the hop (darkedge.infer), a property of the deployment, not of the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What a model file that says nothing is fed: consecutive frames, and evaluation's resize to 128 px before a 112
# px crop (the same ratio at every size).
DEFAULT_FRAME_STEP = 1
DEFAULT_RESIZE_RATIO = 128 / 112

# The part of a model's metadata that is the same for every darkedge model: what its input is.
INPUT_FORMAT = {"channels": "RGB", "value_range": [0.0, 1.0], "normalisation_inside": True}


@dataclass(frozen=True)
class Feeding:
    """Which frames and pixels make a model's clip (see the module docstring)."""

    frames: int
    frame_step: int
    resize: int
    crop: int

    @property
    def span(self) -> int:
        """Frames of video one clip spans."""
        return (self.frames - 1) * self.frame_step + 1

    @property
    def default_hop(self) -> int:
        """The hop `infer` picks: about half the span, in whole frame steps, so that a window's frames fall on
        the frames of the windows before it (they are decoded and prepared once; a hop off the step's grid makes
        every window read other frames: twice the decoding)."""
        return max(1, round(self.span / 2 / self.frame_step)) * self.frame_step

    @property
    def resize_ratio(self) -> float:
        return self.resize / self.crop

    def resize_for(self, crop: int) -> int:
        """The resize that gives a `crop` px crop this feeding's field of view (its resize in proportion)."""
        return round(crop * self.resize_ratio)

    def at(self, frames: int, crop: int) -> Feeding:
        """This feeding for an input of `frames` x `crop` px: the same frame step and field of view."""
        return Feeding(frames, self.frame_step, self.resize_for(crop), crop)

    def metadata(self) -> dict[str, Any]:
        """The fields an export's metadata carries for it (darkedge.runtime.metadata)."""
        return {
            "frames": self.frames,
            "frame_step": self.frame_step,
            "resize": self.resize,
            "crop": self.crop,
            **INPUT_FORMAT,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], frames: int, crop: int) -> Feeding:
        """How a model is fed, from its metadata; `frames` and `crop` are its input's (the metadata's, its static
        shape's or the user's), and a file that does not say the rest gets the defaults above."""
        step = metadata.get("frame_step") or DEFAULT_FRAME_STEP
        if metadata.get("resize") and metadata.get("crop"):
            said = cls(frames, step, metadata["resize"], metadata["crop"])
        else:
            said = cls(frames, step, round(crop * DEFAULT_RESIZE_RATIO), crop)
        return said.at(frames, crop)
