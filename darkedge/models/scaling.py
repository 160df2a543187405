"""Width multipliers: an encoder's channel counts scaled by one factor and rounded, so every family scales alike.

Counts are rounded to a multiple of 4 (never below 4): INT8 dot-product instructions (x86 VNNI, Arm SDOT, TensorRT's
int8 kernels) take input channels in groups of four, and a count off that grid is padded to it anyway.
"""

from __future__ import annotations

CHANNEL_MULTIPLE = 4


def scale_channels(channels: int, width: float, multiple: int = CHANNEL_MULTIPLE) -> int:
    """`channels` x `width`, rounded to the nearest multiple of `multiple` (at least one multiple); exact at 1.0."""
    if width == 1.0:
        return channels
    return max(multiple, int(channels * width / multiple + 0.5) * multiple)
