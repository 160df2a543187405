"""Where a data set's list files, class table and videos are, as their authors distribute them.

A user points at a data set's root, at its list folder or at one list file; the rest is found by a short,
fixed search, never by crawling the disk:

  lists        PATH itself when it holds list files, else the first of PATH/list_cvt, PATH/raw/list_cvt,
               PATH/annotations that does; a list folder made of split_N/ subfolders (ARID v1.5) gives
               split_<fold>/, and pointing at split_N/ itself means fold N.
  class table  mapping_table.txt or classInd.txt beside the list, else in the folder above it.
  videos       per list file: --video-root first when given, then the list's folder, its parent and its
               grandparent, each as it is and with one of VIDEO_DIRS inside (data/, clips/, videos/ ...).
               The first folder that holds every one of a sample of the listed clips is used, else the one
               holding the most of them.

The layouts this covers, as distributed:

  ARID v1.0        ARID/raw/list_cvt/ARID_split{1,2,3}_{train,test,other}.txt + mapping_table.txt,
                   videos in ARID/raw/data/<Class>/<Class>_<scene>_<n>.avi
  ARID v1.5        ARID_v1_5_211015/list_cvt/split_{0,1}/split{N}_{train,test}.txt,
                   videos in ARID_v1_5_211015/clips_v1.5/<Class>/<Class>_<scene>_<n>.mp4
  ARID 1.1 (UG2+)  ARID/raw/list_cvt/ARID1.1_t1_{train_pub,validation_gt_pub}.csv,
                   videos in ARID/raw/train_data/<Class>/ and ARID/raw/test_data/
  Dark-48          Dark48/annotations/{train,test}_split1.txt + classInd.txt (frame lists in
                   annotations/frame_file_list/), videos in a folder of the user's beside annotations/
  darkedge synth   data/synth/ARID_split1_{train,test}.txt + mapping_table.txt, videos in data/synth/clips/
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from darkedge.data.video import VIDEO_EXTENSIONS
from darkedge.errors import DarkedgeError

CLASS_TABLES = ("mapping_table.txt", "classInd.txt")
LIST_SUFFIXES = (".txt", ".csv")
# Where a data set's root keeps its lists (ARID v1.0 and 1.1: raw/list_cvt; ARID v1.5: list_cvt; Dark-48).
LIST_DIRS = ("list_cvt", "raw/list_cvt", "annotations")
# Folders that hold a list's videos, looked for in the list's folder, its parent and its grandparent.
VIDEO_DIRS = (
    "data",  # ARID v1.0: raw/data beside raw/list_cvt
    "clips",  # darkedge synth
    "clips_v1.5",  # ARID v1.5
    "train_data",  # ARID 1.1 (UG2+): training videos
    "test_data",  # ARID 1.1 (UG2+): validation videos
    "videos",
    "video",
    "frames",  # frame folders for frame lists
    "rawframes",
)
SEARCH_DEPTH = 3  # the list's folder, its parent and its grandparent
PROBES = 32  # listed clips, evenly spaced, that rank the candidate video folders
SPLIT_DIR = re.compile(r"split_?(\d+)", re.IGNORECASE)


def is_list_file(path: Path) -> bool:
    """A .txt / .csv file that may be a list: not a class table, not a readme, not hidden."""
    name = path.name.lower()
    return (
        path.is_file()
        and path.suffix.lower() in LIST_SUFFIXES
        and path.name not in CLASS_TABLES
        and not name.startswith(("readme", "."))
    )


def _list_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_list_file(p))


def _split_dirs(folder: Path) -> dict[int, Path]:
    """ARID v1.5's split_0/, split_1/ ... subfolders of a list folder, by number."""
    found = {}
    for p in folder.iterdir():
        match = SPLIT_DIR.fullmatch(p.name)
        if match and p.is_dir() and _list_files(p):
            found[int(match.group(1))] = p
    return found


def list_folder(root: Path, fold: int) -> Path | None:
    """The folder holding the lists of the data set at `root` (None: no lists, a folder per class).

    `root` itself when it holds list files, else the first known list folder inside it that does; in a list
    folder made of split_N/ subfolders (ARID v1.5), split_<fold>/.
    """
    for folder in (root, *(root / name for name in LIST_DIRS)):
        if not folder.is_dir():
            continue
        if _list_files(folder):
            return folder
        splits = _split_dirs(folder)
        if splits:
            if fold not in splits:
                found = ", ".join(splits[n].name for n in sorted(splits))
                raise DarkedgeError(f"{folder}: no split folder for fold {fold} among {found} (use --fold)")
            return splits[fold]
    return None


def folder_fold(folder: Path, fold: int) -> int:
    """The fold a list folder's lists are for: N for ARID v1.5's split_N/ (the folder chose it), else `fold`."""
    match = SPLIT_DIR.fullmatch(folder.name)
    return int(match.group(1)) if match else fold


def split_candidates(folder: Path) -> list[Path]:
    """The files of a list folder that may be split lists."""
    return _list_files(folder)


def _ancestors(folder: Path, count: int) -> list[Path]:
    """`folder` and up to count - 1 folders above it, lexically, so that a relative path stays relative."""
    found = [folder]
    while len(found) < count:
        parent = Path(os.path.normpath(found[-1] / ".."))
        if parent == found[-1]:  # the filesystem root
            break
        found.append(parent)
    return found


def find_class_table(list_file: Path) -> Path | None:
    """mapping_table.txt or classInd.txt beside `list_file`, else in the folder above (Dark-48's frame lists)."""
    for folder in _ancestors(list_file.parent, 2):
        for name in CLASS_TABLES:
            if (folder / name).is_file():
                return folder / name
    return None


def video_folders(list_file: Path, video_root: Path | None = None) -> list[Path]:
    """The existing folders a list's videos are looked for in, in the order they are tried."""
    candidates = [video_root] if video_root is not None else []
    for folder in _ancestors(list_file.parent, SEARCH_DEPTH):
        candidates += [folder, *(folder / name for name in VIDEO_DIRS)]
    return [folder for folder in dict.fromkeys(candidates) if folder.is_dir()]


def resolve_clip(base: Path, rel: str) -> Path | None:
    """The video or frame folder `rel` under `base`, trying video extensions when `rel` has none."""
    path = base / rel
    if path.exists():
        return path
    if not path.suffix:
        for ext in VIDEO_EXTENSIONS:
            candidate = path.with_name(path.name + ext)
            if candidate.exists():
                return candidate
    return None


def choose_video_folder(folders: list[Path], rels: list[str]) -> Path | None:
    """Of `folders` (in search order), the first holding every probed clip, else the one holding most; None if
    none holds any. The probes are PROBES of `rels` evenly spaced, since lists are usually grouped by class."""
    step = max(1, len(rels) // PROBES)
    probes = rels[::step][:PROBES]
    best, best_hits = None, 0
    for folder in folders:
        hits = sum(resolve_clip(folder, rel) is not None for rel in probes)
        if hits == len(probes):
            return folder
        if hits > best_hits:
            best, best_hits = folder, hits
    return best
