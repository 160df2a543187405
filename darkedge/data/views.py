"""A student's view of the teacher's clip: how a student with fewer frames or a smaller crop distils from the teacher.

The teacher's logits must come from the moment of video the student sees. So every classifier stage loads the
teacher's clips (T frames `frame_step` apart, cropped to S), and a student of T' = T / k frames and crop S' <= S is fed
`student_view` of each clip in the training step: every k-th frame, starting at frame (k - 1) // 2 so that its
frames sit centred in the teacher's window, and the S x S crop resized to S' x S' (area averaging). That is the
student's own feeding (darkedge.config.TrainConfig.feeding): T' frames k x frame_step apart, spanning the same
video, resized to S' x resize / S px high and cropped to S', the same field of view. Evaluation, calibration,
export metadata, `infer` and `bench` feed the student clips sampled that way straight from the video.

The two differ only in how the pixels are resampled (the video's frame resized once to S', or resized to S then
averaged down to S'); a student of the teacher's sampling sees the teacher's clip unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from darkedge.config import TrainConfig
from darkedge.feeding import Feeding


def view_step(teacher: Feeding, student: Feeding) -> int:
    """k: the student takes every k-th frame of the teacher's clip (its frame step is k times the teacher's)."""
    step, rest = divmod(student.frame_step, teacher.frame_step)
    if rest or student.frames * step != teacher.frames or student.crop > teacher.crop:
        raise ValueError(f"{student} is not a view of {teacher}")
    return step


def student_view(clips: torch.Tensor, teacher: Feeding, student: Feeding) -> torch.Tensor:
    """Clips (B, 3, T, S, S) sampled as `teacher` -> (B, 3, T', S', S') as `student` sees the same moment."""
    step = view_step(teacher, student)
    if step > 1:
        clips = clips[:, :, (step - 1) // 2 :: step]
    if student.crop != teacher.crop:
        frames = clips.transpose(1, 2).flatten(0, 1)  # (B * T', 3, S, S)
        frames = F.interpolate(frames, size=(student.crop, student.crop), mode="area")
        clips = frames.unflatten(0, (clips.shape[0], -1)).transpose(1, 2)
    return clips.contiguous()


def view_for(cfg: TrainConfig, model: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What `model` (a stage) is fed of the teacher's training clips: its view, or None when it takes them as they are."""
    teacher, own = cfg.feeding("teacher"), cfg.feeding(model)
    if own == teacher:
        return None
    view_step(teacher, own)  # a sampling that is no view of the teacher's fails here, not in the first step
    return functools.partial(student_view, teacher=teacher, student=own)
