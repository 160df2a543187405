"""The health and metrics endpoint of `darkedge infer --metrics-port`: Prometheus text at /metrics, /healthz.

Metrics are read from the run's own accounting (darkedge.infer.stats) when they are scraped, through a
prometheus_client collector, so nothing is counted twice. Per camera (label `camera`): its state, frames
read and dropped, windows run and skipped, events, reconnects, fps in (read from the camera) and out (taken
by inference), the lag from a frame's arrival to its window's result (a histogram over the run, p50 / p99
over the last 10 s); for the model: predictor calls and latency.

/healthz answers 200 while the inference loop turns (with each camera's state, one a line) and 503 when it
has not turned for HEALTH_STALL_S: a liveness probe for the container or the service manager. A camera that
is down is not a reason to restart the box; its state is in the metrics, for alerting.

The server binds 127.0.0.1 unless told otherwise (--metrics-host): metrics name the cameras.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from darkedge import __version__
from darkedge.errors import DarkedgeError
from darkedge.infer.stats import LogHistogram
from darkedge.infer.summary import Summary

if TYPE_CHECKING:
    from darkedge.runtime import Predictor

STATES = ("connecting", "connected", "reconnecting", "ended")
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
HEALTH_STALL_S = 30.0


def histogram_buckets(histogram: LogHistogram, bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    """Prometheus' cumulative (le, count) pairs from a LogHistogram (each bound within its 1 % bucket)."""
    return [(repr(b), histogram.count_at_most(b)) for b in bounds] + [("+Inf", histogram.count)]


class InferCollector(Collector):
    """Turns a running `Summary` into metric families at every scrape."""

    def __init__(self, summary: Summary, predictor: Predictor):
        self.summary = summary
        self.info = {"version": __version__, "model": str(predictor.path), "backend": predictor.backend}

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        cameras = list(self.summary.cameras)
        yield InfoMetricFamily("darkedge", "The model darkedge infer runs.", value=self.info)
        state = GaugeMetricFamily(
            "darkedge_camera_state", "1 for the camera's state, 0 for the others.", labels=["camera", "state"]
        )
        for camera in cameras:
            current = camera.state
            for name in STATES:
                state.add_metric([camera.name, name], float(name == current))
        yield state
        counters = {
            "frames": ("Frames read from the camera.", lambda s: s.frames_in),
            "decoded": ("Frames decoded: those a window uses.", lambda s: s.decoded),
            "frames_dropped": (
                "Frames the bounded buffer dropped: inference was behind.",
                lambda s: s.dropped,
            ),
            "frames_corrupt": ("Frames that were no decodable JPEG.", lambda s: s.corrupt),
            "windows": ("Windows run.", lambda s: s.windows),
            "windows_skipped": ("Windows due whose frames were dropped.", lambda s: s.windows_skipped),
            "events": ("Events written.", lambda s: s.events),
        }
        for name, (doc, value) in counters.items():
            yield per_camera(
                CounterMetricFamily, f"darkedge_camera_{name}", doc, cameras, lambda c, v=value: v(c.stats)
            )
        yield per_camera(
            CounterMetricFamily, "darkedge_camera_reconnects", "Times the stream came back.", cameras,
            lambda c: c.reconnects,
        )  # fmt: skip
        yield per_camera(
            GaugeMetricFamily, "darkedge_camera_fps_in", "Frames per second read, last 10 s.", cameras,
            lambda c: c.stats.rate_in.rate(now),
        )  # fmt: skip
        yield per_camera(
            GaugeMetricFamily, "darkedge_camera_fps_out", "Frames per second taken by inference, last 10 s.",
            cameras, lambda c: c.stats.rate_out.rate(now),
        )  # fmt: skip
        lag = HistogramMetricFamily(
            "darkedge_camera_lag_seconds", "Frame arrival to its window's result.", labels=["camera"]
        )
        for camera in cameras:
            hist = camera.stats.lag
            lag.add_metric([camera.name], histogram_buckets(hist, LAG_BUCKETS), sum_value=hist.total)
        yield lag
        recent = {camera: camera.stats.recent_lag.percentiles((50, 99), now) for camera in cameras}
        for q in (50, 99):
            gauge = GaugeMetricFamily(
                f"darkedge_camera_lag_p{q}_seconds", f"Lag p{q} over the last 10 s.", labels=["camera"]
            )
            for camera in cameras:
                if recent[camera]:
                    gauge.add_metric([camera.name], recent[camera][q])
            yield gauge
        yield CounterMetricFamily("darkedge_inference_calls", "Predictor calls.", value=self.summary.calls)
        yield CounterMetricFamily(
            "darkedge_inference_seconds", "Wall time in predictor calls.", value=self.summary.model_seconds
        )
        cpu = CounterMetricFamily(
            "darkedge_cpu_seconds",
            "CPU time of the readers (read: receiving and parsing, decoding too through OpenCV; decode: JPEG; "
            "prepare: resize and crop) and of the inference loop's Python (loop).",
            labels=["part"],
        )
        for part in ("read", "decode", "prepare"):
            cpu.add_metric([part], sum(getattr(c.stats, f"cpu_{part}") for c in cameras))
        cpu.add_metric(["loop"], self.summary.loop_cpu)
        yield cpu
        hist = self.summary.latency
        latency = HistogramMetricFamily("darkedge_inference_latency_seconds", "Predictor call per window.")
        latency.add_metric([], histogram_buckets(hist, LATENCY_BUCKETS), sum_value=hist.total)
        yield latency
        recent = self.summary.recent_latency.percentiles((50, 99), now)
        for q, value in recent.items():
            yield GaugeMetricFamily(
                f"darkedge_inference_latency_p{q}_seconds", f"Latency p{q} over the last 10 s.", value=value
            )


def per_camera(
    kind: type, name: str, doc: str, cameras: Iterable, value: Callable[[object], float]
) -> Metric:
    """A metric family with one sample per camera."""
    family = kind(name, doc, labels=["camera"])
    for camera in cameras:
        family.add_metric([camera.name], value(camera))
    return family


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """WSGIServer's bind without its socket.getfqdn(host): on a box with no DNS that lookup can hang."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port
        self.setup_environ()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log on stderr: the summary and the warnings are what a person reads there."""


class MetricsServer:
    """Serves /metrics (Prometheus text) and /healthz on host:port (0: a free port, see `url`) until `close`."""

    def __init__(self, summary: Summary, host: str, port: int, predictor: Predictor):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(InferCollector(summary, predictor))
        metrics_app = make_wsgi_app(registry)
        self.summary = summary

        def app(environ: dict, start_response: Callable) -> list[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                return self.health(start_response)
            return metrics_app(environ, start_response)

        server_class = type(
            "Server", (_Server,), {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET}
        )
        try:
            self.httpd = make_server(host, port, app, server_class, _QuietHandler)
        except OSError as e:
            raise DarkedgeError(
                f"--metrics-port {port}: cannot listen on {host} ({e.strerror or e})"
            ) from None
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="darkedge-metrics", daemon=True)
        self._thread.start()

    def health(self, start_response: Callable) -> list[bytes]:
        """200 and each camera's state while the loop turns; 503 when it has stalled."""
        stalled = time.monotonic() - self.summary.heartbeat
        lines = [f"camera {camera.name}: {camera.state}" for camera in self.summary.cameras]
        if stalled > HEALTH_STALL_S:
            status, lines = "503 Service Unavailable", [f"inference loop stalled for {stalled:.0f} s", *lines]
        else:
            status, lines = "200 OK", ["ok", *lines]
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return ["\n".join(lines).encode() + b"\n"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
