"""Calibration sets: `darkedge calib build` (stratified, seeded, written down) and reading any form back."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_run import CLASSES, make_tiny_data

from darkedge.cli import main
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.quant.calib import calibration_batches, open_calibration, stratified_pick


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("calib") / "data")


def test_stratified_pick_spreads_over_cells_and_is_seeded():
    keys = [(label, b) for label in range(3) for b in range(3) for _ in range(4)]  # 9 cells of 4
    picked = stratified_pick(keys, 9, seed=0)
    assert sorted({keys[i] for i in picked}) == sorted(set(keys))  # one from every cell
    assert picked == stratified_pick(keys, 9, seed=0)
    assert picked != stratified_pick(keys, 9, seed=1)
    assert len(stratified_pick(keys, 100, seed=0)) == len(keys)


def test_calib_build_copies_a_stratified_set_with_its_list(data, tmp_path):
    out = tmp_path / "calibration"
    out.mkdir()
    (out / "README.md").write_text("kept\n")
    result = CliRunner().invoke(
        main, ["calib", "build", "--data", str(data), "--out", str(out), "--clips", "6"]
    )
    assert result.exit_code == 0, result.output
    details = json.loads((out / "calib_set.json").read_text())
    assert details["chosen"] == 6 and details["classes_covered"] == 3
    assert len({c["brightness"] for c in details["clips"]}) > 1
    lines = (out / "calib_list.txt").read_text().splitlines()
    assert len(lines) == 6 and (out / "README.md").read_text() == "kept\n"
    index = open_calibration(out, CLASSES)
    assert len(index.samples) == 6 and all(s.path.is_file() for s in index.samples)
    assert {s.label for s in index.samples} == {0, 1, 2}
    # the same seed picks the same clips; a rebuild replaces the old set
    again = CliRunner().invoke(
        main, ["calib", "build", "--data", str(data), "--out", str(out), "--clips", "3"]
    )
    assert again.exit_code == 0
    assert len(list((out / "clips").rglob("*.avi"))) == 3


def test_folder_of_clips_without_list_labels_known_classes_only(data, tmp_path):
    calib = tmp_path / "mine"
    (calib / "Jump").mkdir(parents=True)
    (calib / "misc").mkdir()
    shutil.copy(data / "clips" / "Jump" / "Jump_0_1.avi", calib / "Jump" / "a.avi")
    shutil.copy(data / "clips" / "Wave" / "Wave_0_1.avi", calib / "misc" / "b.avi")
    index = open_calibration(calib, CLASSES)
    assert sorted((s.path.name, s.label) for s in index.samples) == [("a.avi", 1), ("b.avi", -1)]
    batches, skipped = calibration_batches(index, Feeding(4, 2, 40, 32))
    assert len(batches) == 2 and skipped == 0 and tuple(batches[0].shape) == (1, 3, 4, 32, 32)


def test_undecodable_calibration_clips_are_skipped_and_counted(data, tmp_path):
    calib = tmp_path / "calibration"
    calib.mkdir()
    shutil.copy(data / "clips" / "Drink" / "Drink_0_1.avi", calib / "good.avi")
    (calib / "broken.avi").write_bytes(b"\x00" * 100)
    batches, skipped = calibration_batches(open_calibration(calib, CLASSES), Feeding(4, 2, 40, 32))
    assert len(batches) == 1 and skipped == 1
    (calib / "good.avi").unlink()
    with pytest.raises(DarkedgeError, match="none of the 1 calibration clips could be decoded"):
        calibration_batches(open_calibration(calib, CLASSES), Feeding(4, 2, 40, 32))


def test_empty_or_missing_calibration_folder_says_how_to_fill_it(tmp_path):
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(DarkedgeError, match="darkedge calib build"):
            open_calibration(path, CLASSES)


def test_calib_build_on_missing_data_is_one_line_error(tmp_path):
    result = CliRunner().invoke(
        main, ["calib", "build", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 1 and "no such file or folder" in result.output
    assert not (tmp_path / "c").exists()


def test_calib_build_from_a_run_keeps_the_video_root_given(monkeypatch, tmp_path):
    """Without --data the run's data set is used, but a --video-root given on the command line still wins."""
    import darkedge.quant.calib as calib

    seen = {}

    def build(data, out, num_clips, seed, video_root=None, fold=None, relabel=None):
        seen.update(data=data, video_root=video_root, fold=fold)
        return {
            "chosen": 0,
            "data": data,
            "classes_covered": 0,
            "brightness_tercile_edges": [],
            "unreadable_skipped": 0,
            "unlabeled": 0,
        }

    config = types.SimpleNamespace(data="run-data", video_root="run-videos", fold=2)
    run = types.SimpleNamespace(config=config, hide_held_back=lambda index: index)
    monkeypatch.setattr(calib, "open_run", lambda run_dir: run)
    monkeypatch.setattr(calib, "build_calibration_set", build)
    args = ["calib", "build", "--out", str(tmp_path / "c")]
    assert CliRunner().invoke(main, [*args, "--video-root", "mine"]).exit_code == 0
    assert seen == {"data": "run-data", "video_root": "mine", "fold": 2}
    assert CliRunner().invoke(main, args).exit_code == 0
    assert seen["video_root"] == "run-videos"
