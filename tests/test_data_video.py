"""Decoding real video files and frame folders: the right frames, RGB, and one-line errors on bad files."""

import cv2
import numpy as np
import pytest
from helpers_video import level_to_index, write_frame_folder, write_video

from darkedge.data.video import VideoError, count_frames, iter_frames, read_frames


@pytest.mark.parametrize("ext", [".avi", ".mp4", ".mkv", ".mov"])
def test_reads_the_frames_asked_for_in_any_order(tmp_path, ext):
    path = write_video(tmp_path / f"clip{ext}", num_frames=40)
    everything = np.stack(list(iter_frames(path)))
    assert count_frames(path) == 40 == len(everything)
    indices = [39, 0, 5, 30, 31, 30, 2]  # seeks (gap > 24), grabs, repeats, the last frame
    clip = read_frames(path, indices)
    assert clip.shape == (7, 24, 32, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, everything[indices])
    if ext in (".avi", ".mkv"):  # MJPG keeps flat grey levels well enough to tell frames apart
        assert [level_to_index(frame) for frame in clip] == indices


def test_float32_is_in_unit_range(tmp_path):
    path = write_video(tmp_path / "clip.avi", num_frames=10)
    clip = read_frames(path, [0, 9], dtype=np.float32)
    assert clip.dtype == np.float32 and clip.min() >= 0.0 and clip.max() <= 1.0
    np.testing.assert_allclose(clip * 255, read_frames(path, [0, 9]), atol=1e-3)


def test_frames_come_out_rgb(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "img_00001.png"), np.full((4, 4, 3), (10, 20, 30), np.uint8))  # BGR on disk
    assert read_frames(folder, [0])[0, 0, 0].tolist() == [30, 20, 10]


def test_frame_folder_in_numeric_order(tmp_path):
    folder = write_frame_folder(tmp_path / "clip", num_frames=12)
    (folder / "notes.txt").write_text("not a frame")
    assert count_frames(folder) == 12
    assert [level_to_index(f) for f in read_frames(folder, [11, 0, 3])] == [11, 0, 3]


def test_index_past_the_end(tmp_path):
    video = write_video(tmp_path / "clip.avi", num_frames=10)
    folder = write_frame_folder(tmp_path / "frames", num_frames=5)
    with pytest.raises(VideoError, match=r"clip\.avi: frame 10 is past the end"):
        read_frames(video, [3, 10])
    with pytest.raises(VideoError, match=r"frames: frame 5 is past the end \(5 frames\)"):
        read_frames(folder, [5])


def test_truncated_avi_counts_only_frames_that_decode(tmp_path):
    good = write_video(tmp_path / "good.avi", num_frames=40)
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    n = count_frames(truncated)
    assert 0 < n < 40  # the container still claims 40
    assert read_frames(truncated, [n - 1]).shape == (1, 24, 32, 3)
    with pytest.raises(VideoError, match=f"frame {n} is past the end"):
        read_frames(truncated, [0, n])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: p.write_bytes(b""), r"empty file \(0 bytes\)"),
        (lambda p: p.write_text("this is not a video\n"), "cannot be opened as a video"),
    ],
    ids=["missing", "zero-byte", "text"],
)
def test_bad_files_give_one_line_errors(tmp_path, make, message):
    path = tmp_path / "clip.mp4"
    make(path)
    for call in (lambda: count_frames(path), lambda: read_frames(path, [0])):
        with pytest.raises(VideoError, match=rf"^{tmp_path}/clip\.mp4: {message}") as info:
            call()
        assert "\n" not in str(info.value)


def test_truncated_mp4_without_index_is_an_error(tmp_path):
    good = write_video(tmp_path / "good.mp4", num_frames=20)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # loses the moov atom at the end
    with pytest.raises(VideoError, match="truncated.mp4: cannot be opened"):
        count_frames(truncated)


def test_empty_frame_folder(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(VideoError, match="frames: empty frame folder"):
        count_frames(tmp_path / "frames")
