"""Rebuild a small real ARID subset from a public snapshot, for the real-footage benchmarks (never committed).

ARID (Xu et al. 2020, "ARID: A New Dataset for Recognizing Action in the Dark") is given out by its authors on
request. A course repository, github.com/Kexueyi/EE6222-MV (NTU EE6222, 2023/24), holds 246 of its clips, H.264
320 x 240 at 30 fps, of 6 actions (Jump Run Sit Stand Turn Walk): 150 training clips named as ARID names them
(Class_scene_n.mp4: 2-4 scenes per class) and 96 validation clips renamed to numbers (their scenes unknown).
This script copies them out of a snapshot of that repository (a clone, or the bare git directory `fetch` makes),
checks every file against the sha256 sums in arid_subset.tsv, and writes an ARID v1.0 layout that every darkedge
command reads (`--data data/arid6`):

    data/arid6/clips/<Class>/<Class>_<scene>_<n>.mp4      training clips (split 1 train)
    data/arid6/clips/<Class>/val_<N>.mp4                   the course's validation clips (split 1 test)
    data/arid6/ARID_split1_{train,test}.txt                the course's split: 150 / 96
    data/arid6/ARID_split2_{train,test}.txt                for choosing settings without the test clips: the
                                                           training clips, one scene per class held out
    data/arid6/ARID_split3_{train,test}.txt                the same, every 4th training clip of each class held
                                                           out instead (its scenes are trained on)
    data/arid6/ARID_split4_{train,test}.txt                shared scenes: every 3rd clip of each action in a
                                                           scene filmed under two or more actions held out
    data/arid6/mapping_table.txt

Split 2 holds out, per class, the training scene with the fewest clips (ties: the lower scene number): new
scenes, the case of a new camera. Split 3 holds out every 4th training clip of each class (sorted by name): new
clips of scenes the model has seen, the case of a fixed camera whose own footage it was trained on. Settings are
chosen on them, and split 1's test clips are used once, for the figures reported. Split 4 asks whether a model
recognises the action rather than the place: it holds out, from the scenes filmed under two or more actions (scene 1
Run/Turn, 2 Sit/Stand, 10 Sit/Walk, 11 Jump/Run), every 3rd clip of each action there (sorted by name, from the
2nd); the place alone cannot tell these clips' actions apart, and the rest of the training clips, those scenes' too,
train. Without a snapshot it says so
in one line and exits 0.

    python benchmarks/arid_subset.py                       # from /work/.mirror/Kexueyi+EE6222-MV/repo
    python benchmarks/arid_subset.py --snapshot EE6222-MV  # from a clone
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from darkedge.fileio import atomic_path, write_text

SUMS = Path(__file__).with_name("arid_subset.tsv")  # split, class, path in the snapshot, sha256, bytes
DEFAULT_SNAPSHOT = Path("/work/.mirror/Kexueyi+EE6222-MV/repo")
SOURCE = "https://github.com/Kexueyi/EE6222-MV"


def read_blob(snapshot: Path, path: str) -> bytes | None:
    """A file of the snapshot: from a work tree, or from a (bare) git directory's HEAD; None when absent."""
    if (snapshot / path).is_file():
        return (snapshot / path).read_bytes()
    git_dir = snapshot / ".git" if (snapshot / ".git").is_dir() else snapshot
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"], capture_output=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def target_name(split: str, path: str) -> str:
    """Where a clip goes under clips/<Class>/: its ARID name, or val_<N>.mp4 for a renamed validation clip."""
    name = Path(path).name
    return name if split == "train" else f"val_{name}"


def held_out_scenes(train: list[tuple[str, str]]) -> dict[str, int]:
    """Per class, the training scene with the fewest clips (ties: the lower number): split 2's test scenes."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for cls, name in train:
        counts[cls][int(name.split("_")[1])] += 1
    return {cls: min(c, key=lambda scene: (c[scene], scene)) for cls, c in counts.items()}


def scene_of(name: str) -> int:
    """The scene number of a training clip's name (Class_scene_n.mp4)."""
    return int(name.split("_")[1])


def shared_scenes(train: list[tuple[str, str]]) -> set[int]:
    """The scene numbers filmed under two or more actions among the training clips."""
    actions: dict[int, set[str]] = defaultdict(set)
    for cls, name in train:
        actions[scene_of(name)].add(cls)
    return {scene for scene, classes in actions.items() if len(classes) > 1}


def rebuild(snapshot: Path, out: Path) -> dict[str, int] | None:
    rows = [line.split("\t") for line in SUMS.read_text().splitlines() if line.strip()]
    classes = list(dict.fromkeys(cls for _, cls, *_ in rows))
    if read_blob(snapshot, rows[0][2]) is None:
        return None
    written = 0
    for split, cls, path, sha, _ in rows:
        target = out / "clips" / cls / target_name(split, path)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha:
            continue
        data = read_blob(snapshot, path)
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            raise SystemExit(f"{snapshot}: {path} is missing or differs from its sha256 in {SUMS.name}")
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        written += 1
    train = [(cls, target_name(s, p)) for s, cls, p, *_ in rows if s == "train"]
    test = [(cls, target_name(s, p)) for s, cls, p, *_ in rows if s == "test"]
    held = held_out_scenes(train)
    val_train = [(c, n) for c, n in train if int(n.split("_")[1]) != held[c]]
    val_test = [(c, n) for c, n in train if int(n.split("_")[1]) == held[c]]
    by_class = {c: sorted(n for k, n in train if k == c) for c in classes}
    every4 = {(c, n) for c, names in by_class.items() for n in names[3::4]}
    clips_train = [(c, n) for c, n in train if (c, n) not in every4]
    clips_test = [(c, n) for c, n in train if (c, n) in every4]
    shared = shared_scenes(train)
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for c, n in train:
        groups[(c, scene_of(n))].append(n)
    held4 = {(c, n) for (c, s), names in groups.items() if s in shared for n in sorted(names)[1::3]}
    for name, clips in (
        ("ARID_split1_train.txt", train),
        ("ARID_split1_test.txt", test),
        ("ARID_split2_train.txt", val_train),
        ("ARID_split2_test.txt", val_test),
        ("ARID_split3_train.txt", clips_train),
        ("ARID_split3_test.txt", clips_test),
        ("ARID_split4_train.txt", [(c, n) for c, n in train if (c, n) not in held4]),
        ("ARID_split4_test.txt", [(c, n) for c, n in train if (c, n) in held4]),
    ):
        write_text(
            out / name, "".join(f"{i}\t{classes.index(c)}\t{c}/{n}\n" for i, (c, n) in enumerate(clips))
        )
    write_text(out / "mapping_table.txt", "".join(f"{i}\t{c}\n" for i, c in enumerate(classes)))
    return {
        "written": written,
        "train": len(train),
        "test": len(test),
        "val_train": len(val_train),
        "val_test": len(val_test),
        "shared_test": len(held4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--snapshot", type=Path, default=DEFAULT_SNAPSHOT, help=f"a clone or git dir of {SOURCE}"
    )
    parser.add_argument("--out", type=Path, default=Path("data/arid6"))
    args = parser.parse_args()
    counts = rebuild(args.snapshot, args.out) if args.snapshot.exists() else None
    if counts is None:
        print(f"ARID subset: no snapshot of {SOURCE} at {args.snapshot}; skipped")
        return
    print(
        f"{args.out}: {counts['train']} training and {counts['test']} test clips ({counts['written']} written, "
        f"sha256 checked); split 2 (settings): {counts['val_train']} train / {counts['val_test']} held-out-scene clips; "
        f"split 4 (shared scenes): {counts['shared_test']} held-out clips"
    )


if __name__ == "__main__":
    sys.exit(main())
