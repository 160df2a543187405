"""Events as JSON lines, one per window whose smoothed score reaches the threshold.

Events are a stream, not an artifact: a file is opened for appending and every line is flushed as it is
written, so `tail -f` (or a log shipper) sees each event at once and a crash loses nothing already emitted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from darkedge.errors import DarkedgeError


@dataclass
class Event:
    """What the model saw in one window of one camera.

    `source` names the camera (NAME=SOURCE, else the URL or file), `time` is the window's last frame in seconds
    from the stream start, `window` the window's number in that stream, `latency_ms` the predictor call that
    ran it (windows of several cameras batched together share the call).
    """

    source: str
    time: float
    window: int
    frames: tuple[int, int]
    action: str
    score: float
    latency_ms: float


class EventWriter:
    """Writes events to stdout (path None or "-") or appends them to a file, one flushed JSON line each."""

    def __init__(self, path: str | Path | None = None):
        self._owned = path not in (None, "-")
        if self._owned:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._out: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
            except OSError as e:
                raise DarkedgeError(f"{path}: cannot append events ({e.strerror})") from None
        else:
            self._out = sys.stdout

    def write(self, event: Event) -> None:
        """Emit one event and flush it."""
        record = asdict(event)
        record["time"] = round(event.time, 3)
        record["score"] = round(event.score, 4)
        record["latency_ms"] = round(event.latency_ms, 2)
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()

    def close(self) -> None:
        """Close the file (stdout is left open)."""
        if self._owned:
            self._out.close()
