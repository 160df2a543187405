"""Every public data set as its authors distribute it, read by pointing at its root, its list folder or one list,
and any other arrangement through --video-root. Lists are written here in the exact public line formats, videos
are tiny real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_video import write_frame_folder, write_video

from darkedge.cli import main
from darkedge.data.lists import open_dataset
from darkedge.errors import DarkedgeError

ARID_CLASSES = ["Drink", "Jump", "Pick", "Pour", "Push", "Run", "Sit", "Stand", "Turn", "Walk", "Wave"]
WITH_VIDEOS = ["Drink", "Jump", "Wave"]  # the classes the tiny copies hold clips of


def arid_lines(scene: int, ext: str) -> str:
    """ARID list lines `idx<TAB>label<TAB>Class/Class_scene_n.ext`, one clip per class with videos."""
    rows = [
        f"{i}\t{ARID_CLASSES.index(name)}\t{name}/{name}_{scene}_1.{ext}"
        for i, name in enumerate(WITH_VIDEOS)
    ]
    return "\n".join(rows) + "\n"


def write_arid_videos(folder: Path, ext: str, scenes=(1, 2, 3)) -> None:
    for name in WITH_VIDEOS:
        for scene in scenes:
            write_video(folder / name / f"{name}_{scene}_1.{ext}", num_frames=6)


def make_arid_v10(root: Path) -> Path:
    """ARID v1.0: ARID/raw/list_cvt/ARID_split{1,2,3}_{train,test,other}.txt + mapping_table.txt, videos in
    ARID/raw/data/<Class>/ (what ARID's own loader reads)."""
    lists = root / "raw" / "list_cvt"
    lists.mkdir(parents=True)
    (lists / "mapping_table.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(ARID_CLASSES)))
    for fold in (1, 2, 3):  # split n: scene n is the test scene
        train_scene = 1 + fold % 3
        (lists / f"ARID_split{fold}_train.txt").write_text(arid_lines(train_scene, "avi"))
        (lists / f"ARID_split{fold}_test.txt").write_text(arid_lines(fold, "avi"))
        (lists / f"ARID_split{fold}_other.txt").write_text(arid_lines(1 + (fold + 1) % 3, "avi"))
    write_arid_videos(root / "raw" / "data", "avi")
    return root


@pytest.mark.parametrize("where", ["ARID", "ARID/raw", "ARID/raw/list_cvt"])
def test_arid_v10_as_distributed(tmp_path, where):
    root = make_arid_v10(tmp_path / "ARID")
    videos = root / "raw" / "data"
    train = open_dataset(tmp_path / where, "train", fold=2)
    assert train.fmt == "arid_v1" and train.class_names == ARID_CLASSES
    assert [s.path for s in train.samples] == [videos / c / f"{c}_3_1.avi" for c in WITH_VIDEOS]
    assert [s.label for s in train.samples] == [0, 1, 10] and train.video_roots == [videos]
    both = open_dataset(tmp_path / where, "all", fold=1)  # train + test, never the _other list
    assert sorted(s.path.name for s in both.samples) == sorted(
        f"{c}_{scene}_1.avi" for c in WITH_VIDEOS for scene in (1, 2)
    )


def test_arid_v10_one_list_and_data_check(tmp_path):
    root = make_arid_v10(tmp_path / "ARID")
    one = open_dataset(root / "raw" / "list_cvt" / "ARID_split1_other.txt")
    assert [s.path.name for s in one.samples] == [f"{c}_3_1.avi" for c in WITH_VIDEOS]
    for target in (root, root / "raw" / "list_cvt" / "ARID_split1_train.txt"):
        result = CliRunner().invoke(main, ["data", "check", str(target), "--frames", "4", "--workers", "1"])
        assert result.exit_code == 0, result.output
        assert f"videos in {root / 'raw' / 'data'}" in result.stdout


def make_arid_v15(root: Path) -> Path:
    """ARID v1.5 (ARID_v1_5_211015): clips_v1.5/<Class>/<Class>_<scene>_<n>.mp4 and its lists in
    list_cvt/split_{0,1}/split{N}_{train,test}.txt, in ARID's `idx<TAB>label<TAB>path` format."""
    write_arid_videos(root / "clips_v1.5", "mp4", scenes=(1, 2))
    for split in (0, 1):
        folder = root / "list_cvt" / f"split_{split}"
        folder.mkdir(parents=True)
        (folder / f"split{split}_train.txt").write_text(arid_lines(1 + split, "mp4"))
        (folder / f"split{split}_test.txt").write_text(arid_lines(2 - split, "mp4"))
    return root


@pytest.mark.parametrize(
    "where, fold",
    [("", 0), ("", 1), ("list_cvt", 0), ("list_cvt/split_1", 1), ("list_cvt/split_0/split0_train.txt", 0)],
)
def test_arid_v15_as_distributed(tmp_path, where, fold):
    root = make_arid_v15(tmp_path / "ARID_v1_5_211015")
    index = open_dataset(root / where, "train", fold=fold)
    if where.startswith("list_cvt/split_"):  # the split folder is the fold, whatever --fold says
        assert open_dataset(root / where, "train", fold=7).samples == index.samples
    assert index.fmt == "arid_v1" and index.video_roots == [root / "clips_v1.5"]
    assert [s.path.name for s in index.samples] == [f"{c}_{1 + fold}_1.mp4" for c in WITH_VIDEOS]
    # no class table ships with it: labels are named after their clips' folders
    assert [index.class_names[s.label] for s in index.samples] == WITH_VIDEOS


def test_arid_v15_unknown_fold_is_one_line(tmp_path):
    root = make_arid_v15(tmp_path / "ARID_v1_5_211015")
    with pytest.raises(DarkedgeError, match=r"list_cvt: no split folder for fold 3 among split_0, split_1"):
        open_dataset(root, "train", fold=3)


def test_arid_11_ug2_csvs(tmp_path):
    """ARID 1.1 (UG2+ 2021): raw/list_cvt/ARID1.1_t1_*.csv, training videos in raw/train_data/<Class>/,
    validation videos numbered in raw/test_data/."""
    root = tmp_path / "ARID"
    lists = root / "raw" / "list_cvt"
    lists.mkdir(parents=True)
    for name in ("Run", "Wave"):
        write_video(root / "raw" / "train_data" / name / f"{name}_10_1.mp4", num_frames=6)
    for n in range(2):
        write_video(root / "raw" / "test_data" / f"{n}.mp4", num_frames=6)
    header = "VideoID,Video,ClassID\n"
    (lists / "ARID1.1_t1_train_pub.csv").write_text(
        f"{header}0,Run/Run_10_1.mp4,5\n1,Wave/Wave_10_1.mp4,10\n"
    )
    (lists / "ARID1.1_t1_validation_gt_pub.csv").write_text(f"{header}0,0.mp4,5\n1,1.mp4,10\n")
    (lists / "mapping_table_t1.txt").write_text("5\tRun\n10\tWave\n")  # not a 0..n-1 table: left alone
    train = open_dataset(root, "train")
    assert train.fmt == "arid_csv" and train.video_roots == [root / "raw" / "train_data"]
    assert [train.class_names[s.label] for s in train.samples] == ["Run", "Wave"]
    test = open_dataset(root / "raw", "test")
    assert test.video_roots == [root / "raw" / "test_data"]
    assert [(s.path.name, s.label) for s in test.samples] == [("0.mp4", 5), ("1.mp4", 10)]
    assert open_dataset(root, "all").video_roots == [root / "raw" / "train_data", root / "raw" / "test_data"]


DARK48_CLASSES = ["drink", "jump", "pick up"]


def make_dark48_annotations(root: Path) -> Path:
    """Dark-48's annotations/: {train,test}_split1.txt (`class/video.mp4 label`), classInd.txt, and frame lists
    (`class/video n_frames label`) in annotations/frame_file_list/."""
    folder = root / "annotations"
    (folder / "frame_file_list").mkdir(parents=True)
    (folder / "classInd.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(DARK48_CLASSES)))
    for split, n in (("train", 1), ("test", 2)):
        lines = [f"{c}/{c}_{n}.mp4 {i}" for i, c in enumerate(DARK48_CLASSES)]
        (folder / f"{split}_split1.txt").write_text("\n".join(lines) + "\n")
        frame_lines = [f"{c}/{c}_{n} 5 {i}" for i, c in enumerate(DARK48_CLASSES)]
        (folder / "frame_file_list" / f"{split}_split1.txt").write_text("\n".join(frame_lines) + "\n")
    return folder


def write_dark48_videos(folder: Path) -> Path:
    for c in DARK48_CLASSES:
        for n in (1, 2):
            write_video(folder / c / f"{c}_{n}.mp4", num_frames=6)
    return folder


@pytest.mark.parametrize("where", ["Dark48", "Dark48/annotations", "Dark48/annotations/train_split1.txt"])
def test_dark48_videos_in_a_sibling_folder(tmp_path, where):
    make_dark48_annotations(tmp_path / "Dark48")
    videos = write_dark48_videos(tmp_path / "Dark48" / "videos")
    index = open_dataset(tmp_path / where, "train")
    assert index.fmt == "dark48" and index.class_names == DARK48_CLASSES
    assert index.video_roots == [videos]
    assert [s.path for s in index.samples] == [videos / c / f"{c}_1.mp4" for c in DARK48_CLASSES]


def test_dark48_frame_lists_with_frames_beside(tmp_path):
    make_dark48_annotations(tmp_path / "Dark48")
    for c in DARK48_CLASSES:
        write_frame_folder(tmp_path / "Dark48" / "frames" / c / f"{c}_1", num_frames=5)
    index = open_dataset(tmp_path / "Dark48" / "annotations" / "frame_file_list", "train")
    assert index.fmt == "frame_list" and index.class_names == DARK48_CLASSES  # classInd.txt one folder up
    assert index.video_roots == [tmp_path / "Dark48" / "frames"] and index.samples[0].num_frames == 5


def test_dark48_videos_elsewhere_need_video_root(tmp_path):
    annotations = make_dark48_annotations(tmp_path / "Dark48")
    videos = write_dark48_videos(tmp_path / "disk2" / "my videos")
    with pytest.raises(DarkedgeError) as info:
        open_dataset(tmp_path / "Dark48", "test")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{annotations}/test_split1.txt: 3 of 3 listed videos are missing; searched ")
    assert f"searched {annotations}, {tmp_path / 'Dark48'}, {tmp_path}" in message
    assert message.endswith("--video-root DIR): drink/drink_2.mp4 (line 1), jump/jump_2.mp4 (line 2), "
                            "pick up/pick up_2.mp4 (line 3)")  # fmt: skip
    index = open_dataset(tmp_path / "Dark48", "test", video_root=videos)
    assert index.video_roots == [videos] and len(index.samples) == 3

    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "Dark48"), "--frames", "4"])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"Error: {message}".replace("test_split1", "train_split1").replace("_2.mp4", "_1.mp4")
    ]
    args = ["data", "check", str(tmp_path / "Dark48"), "--frames", "4", "--video-root", str(videos)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "dark48, 3 classes, 6 clips" in result.stdout and f"videos in {videos}" in result.stdout


def test_frame_list_elsewhere_with_video_root(tmp_path):
    """LateTemporalModeling / DarkLight style: settings/ holds the lists, the frames are on another disk."""
    settings = tmp_path / "settings" / "ARID"
    settings.mkdir(parents=True)
    (settings / "train_rgb_split1.txt").write_text("Drink/Drink_1_1 4 0\nJump/Jump_1_1 6 1\n")
    frames = tmp_path / "scratch" / "ARID_frames"
    write_frame_folder(frames / "Drink" / "Drink_1_1", num_frames=4)
    write_frame_folder(frames / "Jump" / "Jump_1_1", num_frames=6)
    index = open_dataset(settings / "train_rgb_split1.txt", video_root=frames)
    assert index.fmt == "frame_list" and [s.num_frames for s in index.samples] == [4, 6]
    assert index.samples[1].path == frames / "Jump" / "Jump_1_1"


def test_video_root_is_searched_first_and_must_exist(tmp_path):
    root = make_arid_v10(tmp_path / "ARID")
    copy = tmp_path / "ssd"
    write_arid_videos(copy, "avi")
    index = open_dataset(root, "train", video_root=copy)
    assert index.video_roots == [copy] and index.samples[0].path.is_relative_to(copy)
    with pytest.raises(DarkedgeError, match="nowhere: no such folder"):
        open_dataset(root, "train", video_root=tmp_path / "nowhere")
    with pytest.raises(DarkedgeError, match="a folder per class has no list"):
        open_dataset(root / "raw" / "data", video_root=copy)


def test_relative_paths_stay_relative(tmp_path, monkeypatch):
    make_arid_v10(tmp_path / "ARID")
    monkeypatch.chdir(tmp_path / "ARID" / "raw" / "list_cvt")
    index = open_dataset("ARID_split1_train.txt")  # the videos are in ../data
    assert index.video_roots == [Path("../data")] and index.samples[0].path == Path(
        "../data/Drink/Drink_2_1.avi"
    )


def test_train_and_calib_build_take_video_root(tmp_path):
    """`darkedge train --video-root` saves the folder in config.json; later commands read the same videos."""
    settings = tmp_path / "lists"
    settings.mkdir()
    (settings / "classInd.txt").write_text("0\tDrink\n1\tJump\n")
    videos = tmp_path / "footage"  # no name the search knows
    for split, scenes in (("train", (1, 2, 3, 4)), ("test", (5,))):
        lines = [f"{c}/{c}_{s}.mp4 {i}" for s in scenes for i, c in enumerate(("Drink", "Jump"))]
        (settings / f"{split}_split1.txt").write_text("\n".join(lines) + "\n")
        for line in lines:
            write_video(videos / line.split()[0], num_frames=8, size=(48, 36))
    args = [
        "train",
        "--preset",
        "test",
        "--stage",
        "enhancer",
        "--data",
        str(settings),
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, [*args, "--video-root", str(videos)])
    assert result.exit_code == 0, result.output
    assert f"videos in {videos}" in result.output
    config = json.loads((tmp_path / "latest" / "config.json").read_text())["train"]
    assert config["video_root"] == str(videos) and config["data"] == str(settings)

    from darkedge.run import open_run

    assert len(open_run(tmp_path / "latest").dataset("test", "student")) == 2
    calib = tmp_path / "calib"
    args = ["calib", "build", "--run", str(tmp_path / "latest"), "--out", str(calib), "--clips", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(list((calib / "clips").rglob("*.mp4"))) == 2
    args = ["calib", "build", "--data", str(settings), "--video-root", str(videos), "--out", str(calib)]
    assert CliRunner().invoke(main, [*args, "--clips", "3"]).exit_code == 0
