"""`darkedge data check` on real data sets: the report, and every bad input as a one-line error with exit 1."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_video import write_frame_folder, write_video

from darkedge.cli import main
from darkedge.data.check import check_dataset

DARK, BRIGHT = 6, 120  # grey levels: luma about 6/255 is dark by Dark-48's rule, 120 is not


def make_dataset(root: Path) -> Path:
    """ARID v1.0 layout with dark clips, two classes, one train and one test clip each."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mapping_table.txt").write_text("0\tDrink\n1\tJump\n")
    for name in ("Drink", "Jump"):
        for scene in (1, 2):
            write_video(root / "clips" / name / f"{name}_{scene}_1.avi", num_frames=20, level=DARK)
    for split, scene in (("train", 1), ("test", 2)):
        lines = f"0\t0\tDrink/Drink_{scene}_1.avi\n1\t1\tJump/Jump_{scene}_1.avi\n"
        (root / f"ARID_split1_{split}.txt").write_text(lines)
    return root


def run_check(*args: str):
    result = CliRunner().invoke(main, ["data", "check", *[str(a) for a in args]])
    assert "Traceback" not in result.output, result.output
    return result


def test_report_of_a_good_dataset(tmp_path):
    root = make_dataset(tmp_path / "ds")
    write_video(root / "clips" / "Jump" / "Jump_2_1.avi", num_frames=40, level=BRIGHT)
    report = check_dataset(root, min_frames=30, progress=False)
    assert report.ok and report.fmt == "arid_v1" and report.num_clips == 4
    assert report.counts == {"train": {"Drink": 1, "Jump": 1}, "test": {"Drink": 1, "Jump": 1}}
    assert sorted(report.frame_counts) == [20, 20, 20, 40] and len(report.short) == 3
    assert [Path(clip).name for clip, _ in report.not_dark] == ["Jump_2_1.avi"]
    assert all(0.1 < m < 0.3 for m in report.channel_mean) and len(report.channel_std) == 3
    assert report.luma_percentiles[1] < 10 / 255 and report.luma_percentiles[99] > 100 / 255

    result = run_check(root, "--frames", 30)
    assert result.exit_code == 0, result.output
    assert "arid_v1, 2 classes, 4 clips" in result.output
    assert "not dark by Dark-48's rule: 1" in result.output and "unreadable: 0" in result.output


def test_one_split_of_a_list_file(tmp_path):
    root = make_dataset(tmp_path / "ds")
    report = check_dataset(root / "ARID_split1_test.txt", progress=False)
    assert report.counts == {"ARID_split1_test": {"Drink": 1, "Jump": 1}} and not report.not_dark
    result = run_check(root, "--split", "train", "--frames", 10)
    assert result.exit_code == 0 and "shorter than 10 frames (they wrap around): 0" in result.output


def truncate(clip: Path) -> None:
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])


def last_line(result) -> str:
    return result.output.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda clip: clip.write_bytes(b""), "empty file (0 bytes)"),
        (lambda clip: clip.write_text("hello, I am text\n"), "cannot be opened as a video"),
        (
            lambda clip: truncate(write_video(clip, num_frames=40, level=DARK)),
            "truncated or damaged, only ",
        ),
    ],
    ids=["zero-byte", "text", "truncated"],
)
def test_unreadable_clip_is_reported_and_fails(tmp_path, damage, reason):
    root = make_dataset(tmp_path / "ds")
    clip = root / "clips" / "Jump" / "Jump_1_1.avi"
    damage(clip)
    result = run_check(root)
    assert result.exit_code == 1
    assert f"  {clip}: {reason}" in result.output
    assert last_line(result) == f"Error: {root}: 1 of 4 clips are unreadable"


def test_text_file_named_mp4_in_a_class_folder(tmp_path):
    write_video(tmp_path / "own" / "sit" / "a.avi", num_frames=10, level=DARK)
    (tmp_path / "own" / "sit" / "b.mp4").write_text("not a video")
    result = run_check(tmp_path / "own")
    assert result.exit_code == 1 and "b.mp4: cannot be opened as a video" in result.output
    assert last_line(result) == f"Error: {tmp_path / 'own'}: 1 of 2 clips are unreadable"


def test_frame_list_with_empty_and_short_frame_folders(tmp_path):
    write_frame_folder(tmp_path / "Drink" / "a", num_frames=4)
    write_frame_folder(tmp_path / "Drink" / "b", num_frames=3)
    (tmp_path / "Drink" / "c").mkdir()
    (tmp_path / "list.txt").write_text("Drink/a 4 0\nDrink/b 8 0\nDrink/c 5 0\n")
    result = run_check(tmp_path / "list.txt")
    assert result.exit_code == 1
    assert (
        "Drink/b: the list says 8 frames, only 3 decode" in result.output
    )  # sampling would run past the end
    assert "Drink/c: empty frame folder" in result.output
    assert last_line(result) == f"Error: {tmp_path / 'list.txt'}: 2 of 3 clips are unreadable"


def write_list(root: Path, name: str, text: str) -> Path:
    make_dataset(root)
    (root / name).write_text(text)
    return root / name


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "missing", "{root}/missing: no such file or folder"),
        (lambda root: root, "{root}: no videos found (expected list files or a folder of videos per class)"),
        (
            lambda root: write_list(root, "ARID_split1_train.txt", "0\t0\tnope/x.avi\n1\t0\tnope/y.avi\n"),
            "{root}/ARID_split1_train.txt: 2 of 2 listed videos are missing; searched {root}, {root}/clips, "
            "{root.parent}",
        ),
        (
            lambda root: write_list(root, "bad.txt", "\nDrink/Drink_1_1.avi\n"),
            "{root}/bad.txt:2: 'Drink/Drink_1_1.avi' parses as no known list format",
        ),
        (
            lambda root: write_list(root, "label.txt", "0\t7\tDrink/Drink_1_1.avi\n"),
            "{root}/label.txt:1: label 7 is outside the class table (2 classes in mapping_table.txt)",
        ),
    ],
    ids=["missing-path", "empty-folder", "missing-videos", "unknown-line", "label-outside"],
)
def test_bad_input_is_one_line_error(tmp_path, setup, message):
    result = run_check(setup(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0  # only the error line: nothing else was printed
    assert result.output.strip().startswith("Error: " + message.format(root=tmp_path))
    if "missing;" in message:  # every folder the videos were looked for in, then the first lines
        assert (
            "(point at the videos' folder with --video-root DIR): nope/x.avi (line 1), nope/y.avi (line 2)"
            in (result.output)
        )


def test_workers_give_the_same_report(tmp_path):
    """A pool of decoding processes: the same counts, lists (in list order) and statistics as one process."""
    root = make_dataset(tmp_path / "ds")
    write_video(root / "clips" / "Jump" / "Jump_2_1.avi", num_frames=40, level=BRIGHT)
    truncate(write_video(root / "clips" / "Drink" / "Drink_2_1.avi", num_frames=40, level=DARK))
    (root / "clips" / "Jump" / "Jump_1_1.avi").write_text("not a video")
    reports = [check_dataset(root, min_frames=30, progress=False, workers=n) for n in (1, 2, 3)]
    assert reports[0] == reports[1] == reports[2]
    assert len(reports[0].unreadable) == 2 and len(reports[0].not_dark) == 1
    outputs = [run_check(root, "--frames", 30, "--workers", n) for n in (1, 2)]
    assert outputs[0].exit_code == outputs[1].exit_code == 1
    assert outputs[0].stdout == outputs[1].stdout and "unreadable: 2" in outputs[0].stdout
