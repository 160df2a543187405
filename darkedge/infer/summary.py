"""What a `darkedge infer` run did, overall and per camera: the loop fills it, the metrics endpoint reads it
while the run goes on, and `format` is the report printed at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from darkedge.infer.camera import Camera
from darkedge.infer.stats import LogHistogram, RecentValues


@dataclass
class Summary:
    """What a run did, overall and per camera; `format` is the report printed to stderr at the end."""

    cameras: list[Camera] = field(default_factory=list)
    latency: LogHistogram = field(default_factory=LogHistogram)  # per window: its predictor call, seconds
    recent_latency: RecentValues = field(default_factory=RecentValues)
    calls: int = 0  # predictor calls (fewer than windows when windows of several cameras share a call)
    model_seconds: float = 0.0  # wall time inside predictor calls
    loop_cpu: float = 0.0  # the inference loop thread's CPU time outside predictor calls (its Python)
    seconds: float = 0.0
    stopped_by: str | None = None  # the signal's name when one ended the run
    heartbeat: float = field(default_factory=time.monotonic)  # the loop's last turn (for /healthz)

    @property
    def sources(self) -> int:
        return sum(len(camera.sources) for camera in self.cameras)

    @property
    def windows(self) -> int:
        return sum(camera.stats.windows for camera in self.cameras)

    @property
    def events(self) -> int:
        return sum(camera.stats.events for camera in self.cameras)

    @property
    def dropped(self) -> int:
        return sum(camera.stats.dropped for camera in self.cameras)

    @property
    def reconnects(self) -> int:
        return sum(camera.reconnects for camera in self.cameras)

    @property
    def skipped(self) -> list[str]:
        return [name for camera in self.cameras for name in camera.stats.skipped]

    def latency_percentiles(self) -> dict[str, float]:
        """p50 / p90 / p99 of the per-window latency in ms (empty when no window ran)."""
        values = self.latency.percentiles((50, 90, 99))
        return {f"p{q}": v * 1000 for q, v in values.items()}

    def format(self) -> str:
        """A few lines for a person: totals, latency percentiles, drops, reconnects, skipped files, then per camera."""
        rate = self.windows / self.seconds if self.seconds > 0 else 0.0
        ending = f" (stopped by {self.stopped_by})" if self.stopped_by else ""
        lines = [
            f"infer: {self.sources} source(s), {self.windows} windows, {self.events} events "
            f"in {self.seconds:.1f} s ({rate:.2f} windows/s){ending}"
        ]
        latency = self.latency_percentiles()
        if latency:
            lines.append("latency ms: " + "  ".join(f"{k} {v:.1f}" for k, v in latency.items()))
        lines.append(f"dropped frames: {self.dropped}, reconnects: {self.reconnects}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s): {', '.join(self.skipped)}")
        if self.calls:
            lines.append(
                f"batching: {self.windows} windows in {self.calls} predictor calls "
                f"({self.windows / self.calls:.2f} windows per call)"
            )
        lines.extend(self.camera_line(camera) for camera in self.cameras)
        return "\n".join(lines)

    def camera_line(self, camera: Camera) -> str:
        """One camera's account: state, frames in and their rate, drops, windows run and skipped, lag."""
        s = camera.stats
        fps = s.frames_in / self.seconds if self.seconds > 0 else 0.0
        lag = s.lag.percentiles((50, 99))
        lag_text = f", lag ms p50 {lag[50] * 1000:.0f} p99 {lag[99] * 1000:.0f}" if lag else ""
        corrupt = f", {s.corrupt} undecodable" if s.corrupt else ""
        return (
            f"camera {camera.name}: {camera.state}, {s.frames_in} frames ({fps:.1f} fps), "
            f"dropped {s.dropped} ({s.drop_percent():.1f} %){corrupt}, {s.windows} windows "
            f"({s.windows_skipped} skipped), {s.events} events{lag_text}, {camera.reconnects} reconnects"
        )
