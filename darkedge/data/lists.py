"""Data-set lists: find a split's list files, detect their format from the content, resolve the videos.

Formats (one per list file, taken from its first line, every later line must match it):
  arid_v1     `idx<TAB>label<TAB>Class/Class_scene_clip.avi`, class names in mapping_table.txt
  arid_csv    ARID 1.1 CSV, header `VideoID,Video,ClassID`, rows `0,Wave/Wave_10_1.mp4,10`
  frame_list  `Class/clip n_frames label` (LateTemporalModeling / DarkLight style)
  dark48      `class/video.mp4 label`, class names in classInd.txt
  folders     no list: a folder per class, with train/ and test/ subfolders honoured if present

Where the lists, the class table and the videos of a data set are (as each data set is distributed, or
anywhere with a video root) is layout.py's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from darkedge.data.layout import (
    choose_video_folder,
    find_class_table,
    folder_fold,
    list_folder,
    resolve_clip,
    split_candidates,
    video_folders,
)
from darkedge.data.video import VIDEO_EXTENSIONS, is_frame_folder, is_video
from darkedge.errors import DarkedgeError
from darkedge.names import SPLITS, UNLABELED

SPLIT_WORDS = {"train": ("train",), "test": ("test", "val")}
CSV_HEADER = "videoid,video,classid"
MAX_MISSING_SHOWN = 3
MAX_SEARCHED_SHOWN = 8


@dataclass(frozen=True)
class Sample:
    """One clip: its video file or frame folder, its label, and its frame count when the list gives it. A clip of
    a long recording is a stretch of it: from frame `start`, `num_frames` long (darkedge.data.unlabeled)."""

    path: Path
    label: int
    num_frames: int | None = None
    start: int = 0


@dataclass
class DataIndex:
    """The clips of one split, the class names their labels index, the data-set root, the list format, and
    the folders the listed videos were found in (one per list file; the root itself for a folder per class)."""

    samples: list[Sample]
    class_names: list[str]
    root: Path
    fmt: str
    video_roots: list[Path] = field(default_factory=list)
    fold: int = 1  # the official split the lists are of (ARID v1.5's split_N/ folder names its own)


# A parsed list line: (relative video path, label, frame count or None).
Entry = tuple[str, int, int | None]


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _parse_arid_v1(line: str) -> Entry | None:
    parts = line.split(maxsplit=2)
    if len(parts) == 3 and parts[0].isdigit() and _is_int(parts[1]) and not _is_int(parts[2]):
        return parts[2], int(parts[1]), None
    return None


def _parse_frame_list(line: str) -> Entry | None:
    parts = line.rsplit(maxsplit=2)
    if len(parts) == 3 and parts[1].isdigit() and _is_int(parts[2]) and not _is_int(parts[0]):
        return parts[0], int(parts[2]), int(parts[1])
    return None


def _parse_dark48(line: str) -> Entry | None:
    parts = line.rsplit(maxsplit=1)
    if len(parts) == 2 and _is_int(parts[1]) and not _is_int(parts[0]):
        return parts[0], int(parts[1]), None
    return None


def _parse_csv(line: str) -> Entry | None:
    parts = [part.strip() for part in line.split(",")]
    if len(parts) == 3 and parts[0].isdigit() and parts[1] and _is_int(parts[2]):
        return parts[1], int(parts[2]), None
    return None


# Tried in this order on a list's first line: frame_list before dark48, whose parser would swallow it.
PARSERS: dict[str, tuple[Callable[[str], Entry | None], str]] = {
    "arid_v1": (_parse_arid_v1, "`idx<TAB>label<TAB>path` (ARID v1.0)"),
    "frame_list": (_parse_frame_list, "`path n_frames label` (frame list)"),
    "dark48": (_parse_dark48, "`path label` (Dark-48)"),
    "arid_csv": (_parse_csv, "`VideoID,Video,ClassID` (ARID 1.1 CSV)"),
}


def _read_lines(file: Path) -> list[tuple[int, str]]:
    """Non-empty, non-comment lines with their 1-based line numbers."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DarkedgeError(f"{file}: not a text file (binary content)") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    return [(n, line) for n, line in lines if line and not line.startswith("#")]


def parse_list(file: Path) -> tuple[str, list[tuple[int, Entry]]]:
    """Detect a list file's format from its first line and parse every line; errors name file and line."""
    lines = _read_lines(file)
    if not lines:
        raise DarkedgeError(f"{file}: empty list")
    if lines[0][1].replace(" ", "").lower() == CSV_HEADER:
        fmt, lines = "arid_csv", lines[1:]
        if not lines:
            raise DarkedgeError(f"{file}: empty list (only the CSV header)")
    else:
        first_no, first = lines[0]
        fmt = next((name for name, (parse, _) in PARSERS.items() if parse(first) is not None), None)
        if fmt is None:
            known = "; ".join(desc for _, desc in PARSERS.values())
            raise DarkedgeError(f"{file}:{first_no}: {first!r} parses as no known list format ({known})")
    parse, description = PARSERS[fmt]
    entries = []
    for number, line in lines:
        entry = parse(line)
        if entry is None:
            raise DarkedgeError(f"{file}:{number}: {line!r} does not match the list's format {description}")
        entries.append((number, entry))
    return fmt, entries


def read_class_table(file: Path) -> list[str]:
    """Class names from `idx<TAB>name` lines (mapping_table.txt, classInd.txt); indices must be 0..n-1."""
    table: dict[int, str] = {}
    for number, line in _read_lines(file):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DarkedgeError(f"{file}:{number}: {line!r} is not `index<TAB>class name`")
        table[int(parts[0])] = parts[1].strip()
    if not table:
        raise DarkedgeError(f"{file}: empty class table")
    if sorted(table) != list(range(len(table))):
        raise DarkedgeError(f"{file}: class indices must run 0..{len(table) - 1}, got {sorted(table)[:5]}...")
    return [table[i] for i in range(len(table))]


def _class_names_from_paths(entries: list[Entry]) -> list[str]:
    """Without a class table: each label is named after the first folder of its videos' paths."""
    names: dict[int, str] = {}
    for rel, label, _ in entries:
        parts = Path(rel).parts
        if label >= 0 and len(parts) > 1:
            names.setdefault(label, parts[0])
    count = max((label for _, label, _ in entries), default=-1) + 1
    return [names.get(i, f"class_{i}") for i in range(count)]


def _video_folder(file: Path, entries: list[tuple[int, Entry]], video_root: Path | None) -> Path:
    """The folder a list's clips are under; one line naming every folder searched when none holds any."""
    searched = video_folders(file, video_root)
    base = choose_video_folder(searched, [rel for _, (rel, _, _) in entries])
    if base is None:
        shown = ", ".join(f"{rel} (line {n})" for n, (rel, _, _) in entries[:MAX_MISSING_SHOWN])
        folders = ", ".join(str(folder) for folder in searched[:MAX_SEARCHED_SHOWN])
        more = f" and {len(searched) - MAX_SEARCHED_SHOWN} more" if len(searched) > MAX_SEARCHED_SHOWN else ""
        raise DarkedgeError(
            f"{file}: {len(entries)} of {len(entries)} listed videos are missing; searched {folders}{more} "
            f"(point at the videos' folder with --video-root DIR): {shown}"
        )
    return base


def _samples_from_lists(
    list_files: list[Path], video_root: Path | None = None
) -> tuple[list[Sample], list[str], str, list[Path]]:
    """Parse list files (all one format), check labels against the class table and that every video exists;
    also returns the folder each list's videos were found in."""
    parsed = [(file, *parse_list(file)) for file in list_files]
    formats = sorted({fmt for _, fmt, _ in parsed})
    if len(formats) > 1:
        raise DarkedgeError(f"{list_files[0].parent}: lists of different formats: {', '.join(formats)}")
    table_file = find_class_table(list_files[0])
    all_entries = [entry for _, _, entries in parsed for _, entry in entries]
    class_names = read_class_table(table_file) if table_file else _class_names_from_paths(all_entries)
    table_name = table_file.name if table_file else "the list's folders"
    samples, bases = [], []
    for file, _, entries in parsed:
        missing = []
        base = _video_folder(file, entries, video_root)
        bases.append(base)
        for number, (rel, label, num_frames) in entries:
            if not 0 <= label < len(class_names) and label != UNLABELED:  # -1: a clip with no label
                raise DarkedgeError(
                    f"{file}:{number}: label {label} is outside the class table "
                    f"({len(class_names)} classes in {table_name})"
                )
            path = resolve_clip(base, rel)
            if path is None:
                missing.append(f"{rel} (line {number})")
            else:
                samples.append(Sample(path, label, num_frames))
        if missing:
            shown = ", ".join(missing[:MAX_MISSING_SHOWN])
            raise DarkedgeError(
                f"{file}: {len(missing)} of {len(entries)} listed videos are missing under {base}: {shown}"
            )
    return samples, class_names, formats[0], list(dict.fromkeys(bases))


def _names_fold(name: str, fold: int) -> bool:
    """Whether a list's file name is for `fold`: `split{fold}` in ARID names, else the number on its own."""
    if re.search(r"split\d", name, re.IGNORECASE):
        return re.search(rf"split{fold}(?!\d)", name, re.IGNORECASE) is not None
    return re.search(rf"(?<!\d){fold}(?!\d)", name) is not None


def _find_split_lists(root: Path, split: str, fold: int) -> list[Path]:
    """The list files of `split` in a list folder."""
    candidates = split_candidates(root)
    splits = ("train", "test") if split == "all" else (split,)
    found = []
    for name in splits:
        matches = [p for p in candidates if any(word in p.name.lower() for word in SPLIT_WORDS[name])]
        if len(matches) > 1 or any(re.search(r"split\d", p.name, re.IGNORECASE) for p in matches):
            matches = [p for p in matches if _names_fold(p.name, fold)]
        if len(matches) != 1:
            found_names = ", ".join(p.name for p in candidates)
            problem = "no" if not matches else "more than one"
            raise DarkedgeError(f"{root}: {problem} {name} list for fold {fold} among {found_names}")
        found.append(matches[0])
    return found


def _samples_from_folders(root: Path, split: str) -> tuple[list[Sample], list[str]]:
    """A folder per class (videos or frame folders inside), under train/ and test/ when those exist."""
    split_dirs = [root / name for name in ("train", "test") if (root / name).is_dir()]
    if not split_dirs:
        selected = split_dirs = [root]
    elif split == "all":
        selected = split_dirs
    else:
        selected = [root / split]
        if not selected[0].is_dir():
            raise DarkedgeError(f"{root}: no {split}/ folder beside {split_dirs[0].name}/")
    class_names = sorted({d.name for folder in split_dirs for d in folder.iterdir() if d.is_dir()})
    samples = [
        Sample(clip, label)
        for folder in selected
        for label, name in enumerate(class_names)
        if (folder / name).is_dir()
        for clip in sorted((folder / name).iterdir())
        if (clip.is_file() and is_video(clip)) or is_frame_folder(clip)
    ]
    if not samples:
        where = ", ".join(str(folder) for folder in selected)
        raise DarkedgeError(f"{where}: no videos found (expected list files or a folder of videos per class)")
    return samples, class_names


def open_dataset(
    path: str | Path, split: str = "train", fold: int = 1, video_root: str | Path | None = None
) -> DataIndex:
    """The clips of `split` ("train", "test" or "all") of a data set: its root, its list folder or one list.

    `video_root` is searched first for the listed videos (see layout.py for the rest of the search); a list
    file is its own split.
    """
    path = Path(path)
    if split not in SPLITS:
        raise DarkedgeError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if not path.exists():
        raise DarkedgeError(f"{path}: no such file or folder")
    if video_root is not None:
        video_root = Path(video_root)
        if not video_root.is_dir():
            raise DarkedgeError(f"{video_root}: no such folder (given as the videos' folder, --video-root)")
    if path.is_file():
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            raise DarkedgeError(f"{path}: a video, not a list file or data-set folder")
        samples, class_names, fmt, roots = _samples_from_lists([path], video_root)
        return DataIndex(samples, class_names, path.parent, fmt, roots, folder_fold(path.parent, fold))
    folder = list_folder(path, fold)
    if folder is None:
        if video_root is not None:
            raise DarkedgeError(
                f"{path}: a folder per class has no list, so --video-root {video_root} has nothing to resolve"
            )
        samples, class_names = _samples_from_folders(path, split)
        return DataIndex(samples, class_names, path, "folders", [path], folder_fold(path, fold))
    fold = folder_fold(folder, fold)
    list_files = _find_split_lists(folder, split, fold)
    samples, class_names, fmt, roots = _samples_from_lists(list_files, video_root)
    return DataIndex(samples, class_names, path, fmt, roots, fold)
