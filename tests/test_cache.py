"""The clip cache: decoded once at the run's height, read back memory-mapped, the same frames as decoding gives,
rebuilt when a video changes, bounded in size, shared by the runs that come after."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers_video import level_to_index, write_textured_video, write_video

from darkedge.cli import main
from darkedge.data import cache as cache_module
from darkedge.data.cache import ClipCache, open_cache, pays
from darkedge.data.dataset import ClipDataset
from darkedge.data.lists import DataIndex, Sample
from darkedge.data.video import VideoError
from darkedge.feeding import Feeding


def test_an_entry_is_built_once_read_back_and_rebuilt_when_the_video_changes(tmp_path):
    video = write_video(tmp_path / "a.mp4", num_frames=30, size=(64, 48))
    cache = ClipCache(tmp_path / "cache")
    frames = cache.read(video, [0, 7, 7, 29], resize=24)
    assert frames.shape == (4, 24, 32, 3) and frames.dtype == np.uint8
    assert [level_to_index(f) for f in frames] == [0, 7, 7, 29]  # the frames asked for, in that order
    assert cache.built == 1 and cache.count(video, 24) == 30 and cache.built == 1 and cache.hits == 1
    cache.read(video, [1], resize=32)  # another height is another entry
    assert cache.built == 2
    write_video(video, num_frames=12, size=(64, 48))  # the file changes: size and mtime
    assert cache.count(video, 24) == 12 and cache.built == 3
    with pytest.raises(VideoError, match="past the end"):
        cache.read(video, [12], resize=24)


def test_the_cache_keeps_to_its_budget_by_dropping_the_least_recently_read(tmp_path):
    videos = [write_video(tmp_path / f"{i}.mp4", num_frames=20, size=(64, 48)) for i in range(3)]
    probe = ClipCache(tmp_path / "probe")
    probe.read(videos[0], [0], 24)
    entry_bytes = probe.size()
    cache = ClipCache(tmp_path / "cache", max_bytes=2.5 * entry_bytes)
    cache.read(videos[0], [0], 24)
    cache.read(videos[1], [0], 24)
    old = time_ago = os.path.getmtime(cache.entry(videos[1], 24)) - 100
    os.utime(cache.entry(videos[1], 24), (old, time_ago))  # read longest ago
    cache.read(videos[0], [0], 24)  # read again: most recent
    cache.read(videos[2], [0], 24)
    assert cache.entry(videos[0], 24).is_file() and cache.entry(videos[2], 24).is_file()
    assert not cache.entry(videos[1], 24).is_file() and cache.size() <= 2.5 * entry_bytes


def test_a_recording_too_long_to_cache_is_read_from_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_FRAMES", 10)
    video = write_video(tmp_path / "long.mp4", num_frames=30, size=(64, 48))
    cache = ClipCache(tmp_path / "cache")
    assert cache.read(video, [0], 24) is None and cache.built == 0


def test_a_recording_whose_container_hides_its_length_is_read_from_its_file_once_found_out(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(cache_module, "MAX_FRAMES", 10)
    monkeypatch.setattr(
        cache_module, "reported_frame_count", lambda path: None
    )  # e.g. a live recording's file
    video = write_video(tmp_path / "long.mp4", num_frames=30, size=(64, 48))
    cache = ClipCache(tmp_path / "cache")
    decoded = []
    real = cache_module.iter_frames
    monkeypatch.setattr(cache_module, "iter_frames", lambda path: decoded.append(path) or real(path))
    assert cache.read(video, [0], 24) is None and cache.read(video, [5], 24) is None
    assert cache.built == 0 and cache.size() == 0 and len(decoded) == 1  # decoded once to find out, not again


def test_an_entry_larger_than_the_budget_is_kept_until_the_next_one(tmp_path):
    videos = [write_video(tmp_path / f"{i}.mp4", num_frames=20, size=(64, 48)) for i in range(2)]
    cache = ClipCache(tmp_path / "cache", max_bytes=1)  # smaller than any entry
    assert [level_to_index(f) for f in cache.read(videos[0], [0, 19], 24)] == [0, 19]
    assert cache.entry(videos[0], 24).is_file()  # the entry just written is never the one evicted
    cache.read(videos[1], [0], 24)
    assert not cache.entry(videos[0], 24).is_file()  # the next one pushes it out
    assert [level_to_index(f) for f in cache.read(videos[0], [7], 24)] == [7] and cache.built == 3


def test_an_entry_evicted_by_another_process_while_read_is_still_read_whole(tmp_path, monkeypatch):
    video = write_video(tmp_path / "a.mp4", num_frames=20, size=(64, 48))
    cache = ClipCache(tmp_path / "cache")
    cache.read(video, [0], 24)
    entry, real_utime = cache.entry(video, 24), os.utime

    def evicted_first(
        path, *args
    ):  # another DataLoader worker or run evicts it between the open and the touch
        Path(path).unlink()
        real_utime(path, *args)

    monkeypatch.setattr(cache_module.os, "utime", evicted_first)
    assert [level_to_index(f) for f in cache.read(video, [7, 19], 24)] == [7, 19]
    assert not entry.is_file() and cache.hits == 1 and cache.built == 1


def test_cached_clips_are_the_same_frames_as_decoded_ones_within_resampling(tmp_path):
    video = write_textured_video(tmp_path / "t.mp4", num_frames=24, size=(80, 60), seed=3)
    index = DataIndex([Sample(video, 0)], ["a"], tmp_path, "folders")
    feeding = Feeding(6, 3, 40, 32)
    cached = ClipDataset(index, feeding, train=True, seed=1, cache=ClipCache(tmp_path / "c"))
    plain = ClipDataset(index, feeding, train=True, seed=1)
    for epoch in range(3):
        for d in (cached, plain):
            d.set_epoch(epoch)
        a, b = cached.load(0), plain.load(0)
        assert a.shape == b.shape == (3, 6, 32, 32)
        # same frames, same crop box and flip: only the order of resizing differs
        assert (a - b).abs().mean() < 0.03, epoch


def test_caching_pays_for_inter_coded_video_only(tmp_path):
    mp4 = write_video(tmp_path / "a.mp4", num_frames=5)
    avi = write_video(tmp_path / "a.avi", num_frames=5)  # MJPG
    assert pays(mp4) and not pays(avi)
    assert open_cache("auto", [Sample(avi, 0)]) is None and open_cache("off", [Sample(mp4, 0)]) is None
    assert open_cache(str(tmp_path / "c"), [Sample(avi, 0)]).root == tmp_path / "c"


def _mp4_data(root: Path) -> Path:
    """An ARID-format data set of H.264-like (mp4v) clips: 2 classes, 3 train + 1 test each."""
    classes, lines = ["Sit", "Walk"], {"train": [], "test": []}
    for label, name in enumerate(classes):
        for clip in range(4):
            rel = f"{name}/{name}_{clip}_1.mp4"
            write_textured_video(root / "clips" / rel, num_frames=16, size=(48, 36), seed=10 * label + clip)
            lines["train" if clip < 3 else "test"].append(
                f"{len(lines['train']) + len(lines['test'])}\t{label}\t{rel}"
            )
    (root / "mapping_table.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(classes)))
    for split, split_lines in lines.items():
        (root / f"ARID_split1_{split}.txt").write_text("\n".join(split_lines) + "\n")
    return root


def test_a_cache_built_by_one_run_is_reused_by_the_next_and_rebuilt_for_a_changed_video(tmp_path):
    data = _mp4_data(tmp_path / "data")
    cache = tmp_path / "cache"
    args = [
        "train",
        "--preset",
        "test",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--workers",
        "0",
        "--calib",
        "",
    ]
    args += ["--stage", "raw", "--cache", str(cache)]

    def entries() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in cache.glob("*/*.npy")}

    runner = CliRunner()
    result = runner.invoke(main, [*args, "--out", str(tmp_path / "r1")])
    assert result.exit_code == 0, result.output
    first = entries()
    assert len(first) == 8  # every clip once, at the run's resize (train and test share it)
    assert json.loads((tmp_path / "r1" / "latest" / "config.json").read_text())["train"]["cache"] == str(
        cache
    )
    assert runner.invoke(main, [*args, "--out", str(tmp_path / "r2")]).exit_code == 0
    assert entries() == first  # the second run read the same files, wrote none
    write_textured_video(data / "clips" / "Sit" / "Sit_0_1.mp4", num_frames=16, size=(48, 36), seed=99)
    assert runner.invoke(main, [*args, "--out", str(tmp_path / "r3")]).exit_code == 0
    third = entries()
    assert len(third) == 9 and set(first) < set(third)  # one new entry, for the video that changed
