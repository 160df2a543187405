"""Frame sampling (offsets, strides, wrap-around, multi-clip) and spatial transforms (crops, flips, tensors)."""

import numpy as np
import pytest
import torch

from darkedge.data.sampling import sample_indices
from darkedge.data.transforms import TRAIN_SCALES, crop_boxes, to_tensor, transform_clip


def rng(seed=0):
    return np.random.default_rng(seed)


def test_evaluation_clip_is_centred():
    indices = sample_indices(100, 16, step=2)
    assert indices.shape == (1, 16)
    assert indices[0, 0] == (100 - 31) // 2 and np.all(np.diff(indices[0]) == 2)


def test_training_offsets_are_random_in_range_and_seeded():
    draws = np.concatenate([sample_indices(40, 8, step=3, train=True, rng=rng(s)) for s in range(50)])
    starts = draws[:, 0]
    assert starts.min() >= 0 and draws.max() <= 39 and len(set(starts)) > 5
    assert np.all(np.diff(draws, axis=1) == 3)
    np.testing.assert_array_equal(
        sample_indices(40, 8, train=True, rng=rng(7)), sample_indices(40, 8, train=True, rng=rng(7))
    )


@pytest.mark.parametrize("train", [False, True])
def test_short_clip_wraps_around(train):
    indices = sample_indices(10, 16, train=train, rng=rng())
    assert indices[0].tolist() == [*range(10), *range(6)]


def test_short_clip_with_stride_wraps_around():
    assert sample_indices(5, 4, step=2)[0].tolist() == [0, 2, 4, 1]


def test_single_frame():
    assert sample_indices(9, 1)[0].tolist() == [4]
    assert sample_indices(1, 1)[0].tolist() == [0]
    assert 0 <= sample_indices(9, 1, train=True, rng=rng())[0, 0] <= 8


def test_multi_clip_is_evenly_spaced():
    indices = sample_indices(100, 10, step=2, num_clips=3)
    assert indices[:, 0].tolist() == [0, 40, 81] and indices.max() == 99
    short = sample_indices(8, 10, num_clips=2)
    assert short[:, 0].tolist() == [0, 4] and short.max() < 8


def test_bad_sampling_arguments():
    with pytest.raises(ValueError, match="video of 0 frames"):
        sample_indices(0, 4)
    with pytest.raises(ValueError, match="must be >= 1"):
        sample_indices(10, 4, step=0)


def gradient_clip(t=3, h=60, w=80):
    """Frames whose pixel values tell where they came from: R = column, G = row, B = frame."""
    clip = np.zeros((t, h, w, 3), np.uint8)
    clip[..., 0] = np.arange(w)[None, None, :]
    clip[..., 1] = np.arange(h)[None, :, None]
    clip[..., 2] = np.arange(t)[:, None, None]
    return clip


def test_centre_crop_keeps_aspect_and_centre():
    (view,) = transform_clip(gradient_clip(), train=False, resize=30, crop=20)
    assert view.shape == (3, 20, 20, 3) and view.dtype == np.uint8
    # resized to 30 x 40 (scale 1/2): the centre 20 x 20 box is columns 10..30 = 20..60 of the original
    assert abs(int(view[0, 10, 10, 0]) - 40) <= 2 and abs(int(view[0, 10, 10, 1]) - 30) <= 2
    assert view[:, :, :, 2].tolist() == [[[t] * 20] * 20 for t in range(3)]


def test_three_crops_run_along_the_long_side():
    left, centre, right = transform_clip(gradient_clip(), train=False, resize=30, crop=20, num_crops=3)
    columns = [int(v[0, 10, 10, 0]) for v in (left, centre, right)]
    assert columns[0] < columns[1] < columns[2]
    assert all(abs(int(v[0, 10, 10, 1]) - 30) <= 2 for v in (left, centre, right))


def test_training_crops_are_multi_scale_same_for_every_frame_and_sometimes_flipped():
    clip = gradient_clip()
    sides, flips = set(), 0
    for seed in range(40):
        (box,) = crop_boxes(30, 40, 20, True, 1, rng(seed))
        sides.add(round(box[2] / 30, 3))
        assert box[0] >= 0 and box[0] + box[2] <= 30 and box[1] >= 0 and box[1] + box[3] <= 40
        (view,) = transform_clip(clip, train=True, resize=30, crop=20, rng=rng(seed))
        assert view.shape == (3, 20, 20, 3)
        np.testing.assert_array_equal(view[0, ..., :2], view[2, ..., :2])  # same crop on every frame
        flips += int(view[0, 10, 0, 0]) > int(view[0, 10, -1, 0])  # columns run backwards
    assert sides == set(TRAIN_SCALES) and 5 < flips < 35


def test_to_tensor():
    tensor = to_tensor(np.full((4, 5, 6, 3), 255, np.uint8))
    assert tensor.shape == (3, 4, 5, 6) and tensor.dtype == torch.float32 and float(tensor.max()) == 1.0
