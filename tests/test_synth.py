"""The built-in synthetic data set: determinism, layout, lists, darkness, time-reversed pairs, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from darkedge.cli import main
from darkedge.data.lists import open_dataset
from darkedge.data.synth import SynthConfig, clip_jobs, render_clip, synthesize
from darkedge.data.synth.actions import CLASSES, KEYFRAMES, REST, Timing, action_pose, keyframe_pose
from darkedge.data.video import count_frames, read_frames
from darkedge.data.writer import write_video
from darkedge.errors import DarkedgeError

TINY = dict(clips_per_class=2, frames=6, width=64, height=48, scenes=4, test_scenes=1)
ARID_LINE = re.compile(r"^(\d+)\t(\d+)\t([A-Za-z]+)/\3_(\d+)_(\d+)\.avi$")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    return synthesize(
        SynthConfig(seed=3, **TINY), tmp_path_factory.mktemp("a") / "synth", workers=2, progress=False
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_same_seed_same_files_other_seed_differs(tiny_set, tmp_path):
    again = synthesize(SynthConfig(seed=3, **TINY), tmp_path / "again", workers=1, progress=False)
    other = synthesize(SynthConfig(seed=4, **TINY), tmp_path / "other", workers=1, progress=False)
    for name in ("ARID_split1_train.txt", "ARID_split1_test.txt", "mapping_table.txt"):
        assert _lines(tiny_set / name) == _lines(again / name)
    clips = sorted(p.relative_to(tiny_set) for p in (tiny_set / "clips").rglob("*.avi"))
    assert clips == sorted(p.relative_to(again) for p in (again / "clips").rglob("*.avi"))
    for rel in clips:
        assert (tiny_set / rel).read_bytes() == (again / rel).read_bytes(), rel
    first = clips[0]
    assert not np.array_equal(read_frames(tiny_set / first, range(6)), read_frames(other / first, range(6)))


def test_render_is_bit_exact_before_the_codec():
    cfg = SynthConfig(seed=1, **TINY)
    job = clip_jobs(cfg)[5]
    bright_a, dark_a = render_clip(cfg, job)
    bright_b, dark_b = render_clip(cfg, job)
    assert np.array_equal(bright_a, bright_b) and np.array_equal(dark_a, dark_b)
    assert dark_a.shape == (6, 48, 64, 3) and dark_a.dtype == np.uint8


def test_layout_lists_and_mapping(tiny_set):
    assert (tiny_set / "synth_config.json").is_file()
    mapping = [line.split("\t") for line in _lines(tiny_set / "mapping_table.txt")]
    assert mapping == [[str(i), name] for i, name in enumerate(CLASSES)]
    total = 0
    for split in ("train", "test"):
        lines = _lines(tiny_set / f"ARID_split1_{split}.txt")
        for idx, line in enumerate(lines):
            m = ARID_LINE.match(line)
            assert m, line
            assert int(m[1]) == idx and CLASSES[int(m[2])] == m[3]
            assert (tiny_set / "clips" / line.split("\t")[2]).is_file()
        index = open_dataset(tiny_set, split)
        assert index.class_names == list(CLASSES) and len(index.samples) == len(lines)
        total += len(lines)
    assert total == len(CLASSES) * TINY["clips_per_class"]
    sample = open_dataset(tiny_set, "test").samples[0]
    assert count_frames(sample.path) == TINY["frames"]
    assert read_frames(sample.path, [0, 5]).shape == (2, 48, 64, 3)


def test_train_and_test_scenes_are_disjoint(tiny_set):
    scenes = {
        split: {int(ARID_LINE.match(line)[4]) for line in _lines(tiny_set / f"ARID_split1_{split}.txt")}
        for split in ("train", "test")
    }
    assert scenes["train"] and scenes["test"]
    assert not scenes["train"] & scenes["test"]
    assert len(scenes["test"]) <= TINY["test_scenes"]


def _mean(darkness: float) -> float:
    cfg = SynthConfig(seed=0, clips_per_class=1, frames=4, width=96, height=72, darkness=darkness)
    return float(np.mean([render_clip(cfg, job)[1].mean() / 255 for job in clip_jobs(cfg)]))


def test_raw_mean_is_in_arids_range_and_follows_darkness():
    default, bright, darker = _mean(1.0), _mean(0.0), _mean(2.0)
    assert 0.03 < default < 0.12
    assert bright > 0.3
    assert darker < default * 0.6


def test_sit_and_stand_are_time_reversals():
    assert KEYFRAMES["Sit"] != KEYFRAMES["Stand"]
    for u in np.linspace(0, 1, 21):
        sit, stand = keyframe_pose("Sit", u), keyframe_pose("Stand", 1 - u)
        assert sit == pytest.approx(stand, abs=1e-9)
    centred = Timing(start=0.1, duration=0.8)
    for t in np.linspace(0, 1, 17):
        assert action_pose("Sit", t, centred) == pytest.approx(action_pose("Stand", 1 - t, centred), abs=1e-9)
    assert keyframe_pose("Sit", 0.0) != pytest.approx(keyframe_pose("Stand", 0.0))


def test_pick_and_push_share_the_reach():
    assert keyframe_pose("Pick", 0.35) == keyframe_pose("Push", 0.35) != REST
    assert keyframe_pose("Pick", 1.0) != keyframe_pose("Push", 1.0)


def test_write_video_is_atomic_and_decodes_as_rgb(tmp_path):
    frames = np.zeros((5, 24, 32, 3), np.uint8)
    frames[:, :, :16, 0] = 200  # red left half, blue right half, brighter each frame
    frames[:, :, 16:, 2] = 200
    frames += np.arange(5, dtype=np.uint8)[:, None, None, None] * 10
    write_video(tmp_path / "v.avi", frames, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["v.avi"]
    decoded = read_frames(tmp_path / "v.avi", range(5))
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 6
    with pytest.raises(DarkedgeError, match="extension"):
        write_video(tmp_path / "v.gif", frames, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["v.avi"]


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "synth"
    args = ["data", "synth", "--out", str(out), "--clips-per-class", "1", "--frames", "3"]
    args += ["--size", "48x32", "--scenes", "3", "--test-scenes", "1", "--workers", "1", "--bright"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"wrote 11 clips \(\d+ train, \d+ test.*raw mean", result.output)
    dark = sorted(p.relative_to(out / "clips") for p in (out / "clips").rglob("*.avi"))
    assert len(dark) == 11 and dark == sorted(
        p.relative_to(out / "bright") for p in (out / "bright").rglob("*.avi")
    )
    again = CliRunner().invoke(main, args)  # a previous synth output is replaced without --force
    assert again.exit_code == 0, again.output


def test_cli_refuses_foreign_folder_and_bad_size(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["data", "synth", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path}: folder is not empty and is not a synth output (use --force to write into it)"
    ]
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    bad = CliRunner().invoke(main, ["data", "synth", "--out", str(tmp_path / "x"), "--size", "big"])
    assert bad.exit_code == 1 and "Error: --size big: expected WIDTHxHEIGHT" in bad.output


def test_video_writer_leaves_nothing_when_the_job_fails(tmp_path):
    from darkedge.data.writer import VideoWriter

    target = tmp_path / "out.avi"
    with pytest.raises(RuntimeError), VideoWriter(target, fps=10) as video:
        video.write(np.zeros((24, 32, 3), np.uint8))
        raise RuntimeError("the job died mid-video")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(target, fps=10) as video:
        for value in (0, 128, 255):
            video.write(np.full((24, 32, 3), value, np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]
