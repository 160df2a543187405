"""The timing protocol: warm up, then time calls until there are enough of them and the median has settled.

Enough means at least `min_runs` calls and `min_time_s` seconds; settled means the p50 moved by less than
`tolerance` since the previous check. Warm-up calls (first-call allocation, kernel selection) are never counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class TimingProtocol:
    """How long to warm up and when to stop timing; the defaults suit a 10-100 ms model."""

    warmup_runs: int = 5
    warmup_s: float = 1.0
    min_runs: int = 100  # p99 needs at least a hundred
    min_time_s: float = 3.0
    max_time_s: float = 60.0
    tolerance: float = 0.02


@dataclass
class LatencyStats:
    """Latency percentiles of the timed calls, in milliseconds."""

    runs: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def from_seconds(cls, durations: list[float]) -> LatencyStats:
        """Percentiles (linear interpolation between order statistics) of `durations` in seconds."""
        ms = np.asarray(durations, dtype=np.float64) * 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            len(ms), float(p50), float(p90), float(p99), float(ms.mean()), float(ms.min()), float(ms.max())
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_calls(
    fn: Callable[[], object],
    protocol: TimingProtocol | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> LatencyStats:
    """Warm up `fn`, then time it call by call until the protocol is satisfied."""
    protocol = protocol or TimingProtocol()
    start = clock()
    warmed = 0
    while warmed < protocol.warmup_runs or clock() - start < protocol.warmup_s:
        fn()
        warmed += 1

    durations: list[float] = []
    start = clock()
    previous_p50 = None
    next_check = protocol.min_runs
    while True:
        t0 = clock()
        fn()
        durations.append(clock() - t0)
        elapsed = clock() - start
        if elapsed >= protocol.max_time_s:
            break
        if len(durations) >= next_check and elapsed >= protocol.min_time_s:
            p50 = float(np.median(durations))
            if previous_p50 is not None and abs(p50 - previous_p50) <= protocol.tolerance * previous_p50:
                break
            previous_p50 = p50
            next_check = len(durations) + max(protocol.min_runs // 2, 1)
    return LatencyStats.from_seconds(durations)


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    protocol: TimingProtocol | None = None,
    clock: Callable[[], float] = time.perf_counter,
    calls_per_turn: int = 10,
) -> dict[str, LatencyStats]:
    """Time several functions in turns of a few calls each, so that a change in the machine's load hits all alike.

    On a shared machine this makes ratios between models far steadier than timing each model on its own. Turns
    of one call would not do: each call would then pay for waking the model's threads and caches after another
    model's call (on 2 cores that made an INT8 student look 1.26x faster than FP32 instead of 1.57x). Rounds of
    one turn per function go on until the protocol holds for every function.
    """
    protocol = protocol or TimingProtocol()
    for fn in fns.values():
        start = clock()
        warmed = 0
        while warmed < protocol.warmup_runs or clock() - start < protocol.warmup_s:
            fn()
            warmed += 1
    durations: dict[str, list[float]] = {name: [] for name in fns}
    start = clock()
    previous = None
    next_check = protocol.min_runs
    while True:
        for name, fn in fns.items():
            for _ in range(calls_per_turn):
                t0 = clock()
                fn()
                durations[name].append(clock() - t0)
        runs, elapsed = len(durations[next(iter(fns))]), clock() - start
        if elapsed >= protocol.max_time_s:
            break
        if runs >= next_check and elapsed >= protocol.min_time_s:
            p50s = [float(np.median(d)) for d in durations.values()]
            if previous and all(
                abs(a - b) <= protocol.tolerance * b for a, b in zip(p50s, previous, strict=True)
            ):
                break
            previous = p50s
            next_check = runs + max(protocol.min_runs // 2, calls_per_turn)
    return {name: LatencyStats.from_seconds(d) for name, d in durations.items()}
