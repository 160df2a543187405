"""Decode once: a clip cache of every frame of a video, resized to a run's height, as uint8 on disk.

Training on real footage decodes every clip again every epoch; H.264 at 320 x 240 makes that the cost of an epoch.
The cache decodes a video once, resizes each frame to `resize` px high (the run's resize: every crop, random or
centred, is cut from such a frame) and stores the frames as one uint8 array, (N, resize, W', 3), in a .npy file
that later reads memory-map: a clip costs the few frames it samples, read from the page cache, in any process.

An entry is keyed by the video's absolute path, size and modification time and the height (so a changed file or
another resize is a new entry; the old one ages out), written to a temporary file and renamed (two DataLoader
workers or two runs building the same entry at once both write whole files, and either wins). The cache is
bounded: after a new entry, the least recently read entries (never the new one) are deleted until the folder
holds at most `max_bytes`; an entry another process evicts while it is read is still read whole (a memory map keeps
it) or built again. Videos longer than MAX_FRAMES (recordings, not clips) are read from the file as before,
whether their container says so or decoding finds out.

Sampling and augmentation are unchanged on top of it: ClipDataset picks the same frame indices and cuts its
random or centre crop from the cached frames. The pixels differ from the uncached path's only by interpolation:
there a crop is cut from the full-size frame and resized once; here from a frame already resized to the run's
height (tests/test_cache.py bounds the difference).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from darkedge.data.video import VideoError, is_frame_folder, iter_frames, reported_frame_count
from darkedge.fileio import commit_temporary, discard_temporary, temporary_beside
from darkedge.names import CACHE_GB

DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "darkedge" / "clips"
MAX_FRAMES = 3000  # a longer video is a recording: read from the file, never cached whole
VERSION = 1  # bumped when the stored form changes
INTRA_CODECS = {
    "MJPG",
    "MJPA",
    "JPEG",
    "PNG ",
    "RAW ",
    "RGB ",
    "BGR ",
    "I420",
    "YV12",
}  # each frame stands alone
STALE_TMP_S = 3600  # a temporary entry this old was left by a killed process


class ClipCache:
    """Whole videos resized to one height, stored as uint8 .npy files under `root` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike = DEFAULT_DIR, max_bytes: float = CACHE_GB * 1e9):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.built = 0  # entries this process decoded and wrote
        self.hits = 0
        self.too_long: set[Path] = set()  # videos found longer than MAX_FRAMES: read from the file

    def key(self, path: Path, resize: int) -> str:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{resize}|v{VERSION}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def entry(self, path: Path, resize: int) -> Path:
        key = self.key(path, resize)
        return self.root / key[:2] / f"{key}.npy"

    def frames(self, path: str | os.PathLike, resize: int) -> np.ndarray | None:
        """Every frame of `path` at `resize` px high, memory-mapped (N, resize, W', 3) uint8; None for a video too
        long to cache. Builds the entry the first time; raises VideoError for a video that cannot be decoded."""
        path = Path(path)
        if not path.exists():
            raise VideoError(f"{path}: no such file")
        if path in self.too_long:
            return None
        entry = self.entry(path, resize)
        try:
            frames = np.load(entry, mmap_mode="r")
        except FileNotFoundError:  # not built yet (or evicted by another process)
            pass
        else:
            self.hits += 1
            # most recently used: the last to be evicted (if another process evicted it meanwhile, the open map
            # still reads it whole)
            with contextlib.suppress(FileNotFoundError):
                os.utime(entry)
            return frames
        if not is_frame_folder(path) and (reported_frame_count(path) or 0) > MAX_FRAMES:
            self.too_long.add(path)
            return None
        frames = self._build(path, resize, entry)
        if frames is None:
            self.too_long.add(path)
        return frames

    def read(self, path: str | os.PathLike, indices: Sequence[int], resize: int) -> np.ndarray | None:
        """Frames `indices` (any order, repeats allowed) as (n, resize, W', 3) uint8, or None when not cached."""
        frames = self.frames(path, resize)
        if frames is None:
            return None
        wanted = np.asarray(indices)
        if len(wanted) and (wanted.min() < 0 or wanted.max() >= len(frames)):
            raise VideoError(
                f"{path}: frame {int(wanted.max())} is past the end ({len(frames)} frames decode)"
            )
        return np.ascontiguousarray(frames[wanted])

    def count(self, path: str | os.PathLike, resize: int) -> int | None:
        """The number of frames that decode (the entry's length), or None when the video is not cached."""
        frames = self.frames(path, resize)
        return None if frames is None else len(frames)

    def _build(self, path: Path, resize: int, entry: Path) -> np.ndarray | None:
        """Decode, resize and store `path`; its frames, or None when it has more than MAX_FRAMES."""
        resized = []
        for frame in iter_frames(path):
            height, width = frame.shape[:2]
            size = (max(1, round(width * resize / height)), resize)
            interpolation = cv2.INTER_AREA if resize < height else cv2.INTER_LINEAR
            resized.append(cv2.resize(frame, size, interpolation=interpolation))
            if len(resized) > MAX_FRAMES:  # its container did not say: a recording after all
                return None
        if not resized:
            raise VideoError(f"{path}: no frame decodes (corrupt or truncated video)")
        frames = np.stack(resized)
        tmp = temporary_beside(entry)
        try:
            with open(tmp, "wb") as f:
                np.save(f, frames)
            commit_temporary(tmp, entry)
        finally:
            discard_temporary(tmp)
        self.built += 1
        self._evict(keep=entry)
        return frames

    def _evict(self, keep: Path) -> None:
        """Delete the least recently used entries (and stale temporaries) but `keep` until at most max_bytes are
        kept."""
        entries, now = [], time.time()
        for file in self.root.glob("*/*"):
            try:
                stat = file.stat()
            except FileNotFoundError:  # another process removed it meanwhile
                continue
            if file.suffix == ".tmp":
                if now - stat.st_mtime > STALE_TMP_S:
                    file.unlink(missing_ok=True)
                continue
            entries.append((stat.st_mtime, stat.st_size, file))
        total = sum(size for _, size, _ in entries)
        for _, size, file in sorted(entries):
            if total <= self.max_bytes:
                break
            if file == keep:
                continue
            file.unlink(missing_ok=True)
            total -= size

    def size(self) -> int:
        """Bytes the cache's entries take."""
        return sum(f.stat().st_size for f in self.root.glob("*/*.npy"))


def pays(path: Path) -> bool:
    """Whether caching a video saves work: inter-coded video (H.264, H.265, MPEG-4...) decodes whole groups of
    frames to reach the few a clip samples; intra-only video (MJPEG) and frame folders decode just those."""
    if is_frame_folder(path):
        return False
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        code = int(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).upper()
    return bool(code) and fourcc not in INTRA_CODECS


def open_cache(setting: str, samples: Sequence, max_gb: float = CACHE_GB) -> ClipCache | None:
    """The cache a run's `cache` setting asks for: "off" none; "auto" the default folder when caching pays for
    these clips (their first video is inter-coded); anything else is the folder to keep it in."""
    if setting == "off" or not samples:
        return None
    if setting == "auto":
        return ClipCache(DEFAULT_DIR, max_gb * 1e9) if pays(Path(samples[0].path)) else None
    return ClipCache(setting, max_gb * 1e9)
