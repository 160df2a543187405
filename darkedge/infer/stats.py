"""Bounded-memory statistics for runs that last months: percentiles, recent values, rates, per-camera counters.

A box watching cameras never stops, so nothing here keeps one entry per window: latencies fold into a
histogram of fixed size (`LogHistogram`, percentiles within 1 %), recent values and rates into deques with a
time horizon and a length cap. Memory stays flat however long the run.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

RECENT_S = 10.0  # "recent" lag percentiles and fps cover the last 10 seconds
RECENT_CAP = 8192  # ... and at most this many samples (a 1 kHz camera would still fit 8 s)


class LogHistogram:
    """Counts of positive values (seconds) in buckets 1 % wide on a log scale from 1 us to 10^4 s.

    Percentiles come back within 1 % of the exact value, from 2,316 counters whatever the number of values.
    """

    LOW, HIGH, GROWTH = 1e-6, 1e4, 1.01
    BUCKETS = math.ceil(math.log(HIGH / LOW) / math.log(GROWTH))

    def __init__(self) -> None:
        self.counts = np.zeros(self.BUCKETS, dtype=np.int64)
        self.count = 0
        self.total = 0.0

    def bucket(self, value: float) -> int:
        """The bucket a value falls in (values outside [LOW, HIGH) go to the first or last bucket)."""
        if value <= self.LOW:
            return 0
        return min(self.BUCKETS - 1, int(math.log(value / self.LOW) / math.log(self.GROWTH)))

    def add(self, value: float) -> None:
        """Count one value."""
        self.counts[self.bucket(value)] += 1
        self.count += 1
        self.total += value

    def percentiles(self, qs: tuple[float, ...]) -> dict[float, float]:
        """{q: value} for percentiles q in [0, 100]: the geometric centre of the bucket holding the q-th value."""
        if self.count == 0:
            return {}
        cumulative = np.cumsum(self.counts)
        ranks = [max(1, math.ceil(q / 100 * cumulative[-1])) for q in qs]
        buckets = np.searchsorted(cumulative, ranks)
        return {q: self.LOW * self.GROWTH ** (int(b) + 0.5) for q, b in zip(qs, buckets, strict=True)}

    def count_at_most(self, bound: float) -> int:
        """How many values fell in buckets entirely at or below `bound` (for Prometheus' cumulative buckets)."""
        if bound >= self.HIGH:
            return self.count
        return int(self.counts[: self.bucket(bound)].sum())


class RecentValues:
    """The values added in the last `horizon` seconds (at most `cap` of them), for live percentiles."""

    def __init__(self, horizon: float = RECENT_S, cap: int = RECENT_CAP):
        self.horizon = horizon
        self._items: collections.deque[tuple[float, float]] = collections.deque(maxlen=cap)
        self._lock = threading.Lock()

    def add(self, value: float, now: float | None = None) -> None:
        with self._lock:
            self._items.append((time.monotonic() if now is None else now, value))

    def percentiles(self, qs: tuple[float, ...], now: float | None = None) -> dict[float, float]:
        """{q: value} over the values still within the horizon; empty when there are none."""
        since = (time.monotonic() if now is None else now) - self.horizon
        with self._lock:
            values = [v for t, v in self._items if t >= since]
        if not values:
            return {}
        return dict(zip(qs, (float(v) for v in np.percentile(values, qs)), strict=True))


class RateMeter:
    """Events per second over the last `horizon` seconds (or since it was created, when that is shorter)."""

    def __init__(self, horizon: float = RECENT_S, cap: int = RECENT_CAP):
        self.horizon = horizon
        self.created = time.monotonic()
        self._times: collections.deque[float] = collections.deque(maxlen=cap)
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and self._times[0] < now - self.horizon:
                self._times.popleft()
            count = len(self._times)
            span = min(self.horizon, now - self.created)
            if count == self._times.maxlen:  # capped: measure over the span the kept events cover
                span = now - self._times[0]
        return count / span if span > 0 else 0.0


@dataclass
class CameraStats:
    """What one camera did. The reader thread writes the first group, the inference loop the second."""

    name: str
    live: bool = False
    # reader side
    frames_in: int = 0
    dropped: int = 0  # frames the bounded buffer dropped because inference was behind
    corrupt: int = 0  # frames the camera sent that were no decodable JPEG (lost, as dropped ones are)
    decoded: int = 0  # frames decoded: those a window uses (every frame with --set decode_all=true)
    # CPU seconds of the reader thread: receiving and parsing (through OpenCV: decoding too), decoding JPEG frames,
    # preparing frames for the model (resize and crop)
    cpu_read: float = 0.0
    cpu_decode: float = 0.0
    cpu_prepare: float = 0.0
    skipped: list[str] = field(default_factory=list)  # unreadable files (a folder goes on without them)
    # inference side
    frames_out: int = 0
    windows: int = 0
    windows_skipped: int = 0  # windows due whose frames were dropped
    events: int = 0
    lag: LogHistogram = field(default_factory=LogHistogram)  # frame arrival -> its window's result, seconds
    recent_lag: RecentValues = field(default_factory=RecentValues)
    rate_in: RateMeter = field(default_factory=RateMeter)
    rate_out: RateMeter = field(default_factory=RateMeter)

    def frame_read(self, now: float) -> None:
        self.frames_in += 1
        self.rate_in.tick(now)

    def frame_taken(self, now: float) -> None:
        self.frames_out += 1
        self.rate_out.tick(now)

    def window_done(self, lag: float, now: float) -> None:
        self.windows += 1
        self.lag.add(lag)
        self.recent_lag.add(lag, now)

    def drop_percent(self) -> float:
        """Frames dropped as a percentage of frames read."""
        return 100.0 * self.dropped / self.frames_in if self.frames_in else 0.0
