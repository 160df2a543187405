"""Every list format, detected from the file's content, and one-line errors naming the file and line."""

from pathlib import Path

import pytest
from helpers_video import write_frame_folder, write_video

from darkedge.data.lists import open_dataset
from darkedge.errors import DarkedgeError

ARID_CLASSES = ["Drink", "Jump", "Pick"]


def make_arid_v1(root: Path, folds=(1,)) -> Path:
    """ARID v1.0 layout: mapping_table.txt, ARID_split{fold}_{train,test}.txt, clips/Class/Class_scene_clip.avi."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mapping_table.txt").write_text("".join(f"{i}\t{c}\n" for i, c in enumerate(ARID_CLASSES)))
    for name in ARID_CLASSES:
        for scene in (1, 2):
            write_video(root / "clips" / name / f"{name}_{scene}_1.avi", num_frames=10)
    for fold in folds:
        for split, scene in (("train", fold), ("test", 3 - fold)):
            lines = [
                f"{i}\t{label}\t{name}/{name}_{scene}_1.avi"
                for i, (label, name) in enumerate(enumerate(ARID_CLASSES))
            ]
            (root / f"ARID_split{fold}_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_arid_v1_folder_finds_split_and_fold(tmp_path):
    root = make_arid_v1(tmp_path / "arid", folds=(1, 2))
    train = open_dataset(root, "train", fold=1)
    assert train.fmt == "arid_v1" and train.class_names == ARID_CLASSES and train.root == root
    assert [s.path for s in train.samples] == [root / "clips" / c / f"{c}_1_1.avi" for c in ARID_CLASSES]
    assert [s.label for s in train.samples] == [0, 1, 2] and train.samples[0].num_frames is None
    assert open_dataset(root, "train", fold=2).samples[0].path.name == "Drink_2_1.avi"
    assert open_dataset(root, "test", fold=1).samples[0].path.name == "Drink_2_1.avi"
    assert len(open_dataset(root, "all", fold=1).samples) == 6


def test_a_list_file_is_its_own_split(tmp_path):
    root = make_arid_v1(tmp_path / "arid")
    index = open_dataset(root / "ARID_split1_test.txt")
    assert index.fmt == "arid_v1" and len(index.samples) == 3 and index.root == root


def test_arid_11_csv(tmp_path):
    root = tmp_path / "arid11"
    for name in ("Jump", "Wave"):
        write_video(root / "clips_v1.5" / name / f"{name}_10_1.mp4", num_frames=10)
    rows = "VideoID,Video,ClassID\n0,Jump/Jump_10_1.mp4,1\n1,Wave/Wave_10_1.mp4,3\n"
    (root / "ARID1.1_t1_train_pub.csv").write_text(rows)
    (root / "ARID1.1_t1_validation_gt_pub.csv").write_text(rows)
    index = open_dataset(root, "test")
    assert index.fmt == "arid_csv"
    assert index.class_names == ["class_0", "Jump", "class_2", "Wave"]  # named from the paths' folders
    assert [s.label for s in index.samples] == [1, 3]
    assert index.samples[1].path == root / "clips_v1.5" / "Wave" / "Wave_10_1.mp4"


def test_dark48_with_class_table_and_videos_folder(tmp_path):
    root = tmp_path / "dark48"
    root.mkdir()
    (root / "classInd.txt").write_text("0\tboxing\n1\twaving hands\n")
    write_video(root / "videos" / "boxing" / "b1.mp4", num_frames=10)
    write_video(root / "videos" / "waving hands" / "w 1.mp4", num_frames=10)
    (root / "train.txt").write_text("boxing/b1.mp4 0\nwaving hands/w 1.mp4 1\n")
    (root / "test.txt").write_text("boxing/b1.mp4 0\n")
    index = open_dataset(root, "train")
    assert index.fmt == "dark48" and index.class_names == ["boxing", "waving hands"]
    assert index.samples[1].path == root / "videos" / "waving hands" / "w 1.mp4"
    assert len(open_dataset(root, "test").samples) == 1


def test_frame_list_keeps_frame_counts(tmp_path):
    root = tmp_path / "frames"
    write_frame_folder(root / "Drink" / "Drink_1_1", num_frames=4)
    write_frame_folder(root / "Pour" / "Pour_1_1", num_frames=6)
    write_video(root / "Pour" / "Pour_2_1.avi", num_frames=5)  # a path without extension may be a video
    (root / "list.txt").write_text("Drink/Drink_1_1 4 0\nPour/Pour_1_1 6 1\nPour/Pour_2_1 5 1\n")
    index = open_dataset(root / "list.txt")
    assert index.fmt == "frame_list" and index.class_names == ["Drink", "Pour"]
    assert [s.num_frames for s in index.samples] == [4, 6, 5]
    assert index.samples[2].path == root / "Pour" / "Pour_2_1.avi"


def test_folder_per_class(tmp_path):
    root = tmp_path / "own"
    write_video(root / "sit" / "a.avi", num_frames=10)
    write_video(root / "stand" / "b.mp4", num_frames=10)
    write_frame_folder(root / "stand" / "c", num_frames=3)
    (root / "stand" / "readme.md").write_text("not a clip")
    index = open_dataset(root)
    assert index.fmt == "folders" and index.class_names == ["sit", "stand"]
    assert [(s.path.name, s.label) for s in index.samples] == [("a.avi", 0), ("b.mp4", 1), ("c", 1)]


def test_folder_per_class_with_train_and_test(tmp_path):
    root = tmp_path / "own"
    write_video(root / "train" / "sit" / "a.avi", num_frames=10)
    write_video(root / "train" / "stand" / "b.avi", num_frames=10)
    write_video(root / "test" / "stand" / "c.avi", num_frames=10)
    test = open_dataset(root, "test")
    assert test.class_names == ["sit", "stand"] and [(s.path.name, s.label) for s in test.samples] == [
        ("c.avi", 1)
    ]
    assert len(open_dataset(root, "all").samples) == 3


def error_of(path, *args) -> str:
    with pytest.raises(DarkedgeError) as info:
        open_dataset(path, *args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_line_of_no_known_format(tmp_path):
    make_arid_v1(tmp_path)
    (tmp_path / "bad.txt").write_text("\n# a comment\nDrink/Drink_1_1.avi, zero\n")
    assert error_of(tmp_path / "bad.txt").startswith(
        f"{tmp_path}/bad.txt:3: 'Drink/Drink_1_1.avi, zero' parses as no"
    )


def test_line_not_matching_the_first(tmp_path):
    make_arid_v1(tmp_path)
    (tmp_path / "mixed.txt").write_text("0\t0\tDrink/Drink_1_1.avi\nDrink/Drink_2_1.avi 0\n")
    assert error_of(tmp_path / "mixed.txt").startswith(
        f"{tmp_path}/mixed.txt:2: 'Drink/Drink_2_1.avi 0' does not match"
    )


def test_label_outside_class_table(tmp_path):
    make_arid_v1(tmp_path)
    (tmp_path / "list.txt").write_text("0\t0\tDrink/Drink_1_1.avi\n1\t11\tJump/Jump_1_1.avi\n")
    message = error_of(tmp_path / "list.txt")
    assert (
        message
        == f"{tmp_path}/list.txt:2: label 11 is outside the class table (3 classes in mapping_table.txt)"
    )


def test_missing_videos_are_counted_and_named(tmp_path):
    make_arid_v1(tmp_path)
    lines = ["0\t0\tDrink/Drink_1_1.avi"] + [f"{i}\t1\tJump/gone_{i}.avi" for i in range(1, 6)]
    (tmp_path / "list.txt").write_text("\n".join(lines))
    message = error_of(tmp_path / "list.txt")
    assert message == (
        f"{tmp_path}/list.txt: 5 of 6 listed videos are missing under {tmp_path}/clips: "
        "Jump/gone_1.avi (line 2), Jump/gone_2.avi (line 3), Jump/gone_3.avi (line 4)"
    )


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "nowhere", "nowhere: no such file or folder"),
        (lambda root: root, "no videos found"),
        (lambda root: (root / "l.txt").write_text("\n\n") and root / "l.txt", "l.txt: empty list"),
        (
            lambda root: (root / "l.csv").write_text("VideoID,Video,ClassID\n") and root / "l.csv",
            "only the CSV header",
        ),
        (
            lambda root: (root / "l.txt").write_bytes(b"\xff\xfe\x00\x81") and root / "l.txt",
            "not a text file",
        ),
        (lambda root: write_video(root / "v.avi", 10), "v.avi: a video, not a list file"),
    ],
    ids=["missing", "empty-folder", "empty-list", "header-only", "binary", "video"],
)
def test_bad_paths(tmp_path, setup, message):
    assert message in error_of(setup(tmp_path))


def test_ambiguous_and_absent_split_lists(tmp_path):
    make_arid_v1(tmp_path)
    (tmp_path / "ARID_split1_train.txt").rename(tmp_path / "ARID_split1_training.txt")
    (tmp_path / "old_split1_train.txt").write_text("0\t0\tDrink/Drink_1_1.avi\n")
    assert "more than one train list for fold 1" in error_of(tmp_path, "train")
    assert "no test list for fold 2" in error_of(tmp_path, "test", 2)


def test_bad_class_table(tmp_path):
    make_arid_v1(tmp_path)
    (tmp_path / "mapping_table.txt").write_text("1\tDrink\n2\tJump\n")
    assert "mapping_table.txt: class indices must run 0..1" in error_of(tmp_path)
