"""Cameras per box: how many 15 fps cameras one `darkedge infer` process keeps up with, per model and stream.

    python benchmarks/bench_cameras.py                    # the exports of runs/latest (trained and quantized)
    python benchmarks/bench_cameras.py --run runs/<time>
    python benchmarks/bench_cameras.py --random           # random-weight models at the small preset (smoke run)
    python benchmarks/bench_cameras.py --only rtsp        # the setups whose name holds "rtsp"

Writes benchmarks/results/cameras.{md,json,png}. The models: the INT8 student, the FP32 student,
enhance-then-classify (the FP32 teacher: Zero-DCE + classifier) and two-stream FP32, as OpenVINO IRs.

Setups (SETUPS): the cameras' protocol and frame size, the hop between windows, and how infer decodes. MJPEG over
HTTP (benchmarks/mjpeg_server.py: one process, dark noisy frames) and RTSP/H.264 (benchmarks/rtsp_server.py:
GStreamer's RTSP server streaming the built-in dark clips with sensor noise at 512 kbps, a loop encoded once,
which decodes as dearly as real dark footage encoded the same way (benchmarks/results/streams.md); every camera
receives the one stream, as several viewers of one camera do; rows measured before 2026-12-07 streamed a test
pattern 3-4x cheaper to decode); `needed` decoding is darkedge's (only the frames a window uses; an MJPEG frame at the JPEG scale the model
needs), `all` decodes every frame at full size, as darkedge did before: the same setup measured both ways.

A probe at N cameras: N loopback cameras and one `darkedge infer` process watching all N (OpenVINO, --threads,
--max-batch, the hop under test). Once every camera has produced a window, a warm-up, then --measure seconds read
from infer's own metrics endpoint and the cameras' counters. N is sustained when
  - lag p99 (a frame's arrival to its window's result, worst camera, last 10 s) is under one window's span
    (span frames / 15 fps), and
  - lost frames are under 1 % of the frames the cameras had to send: those infer's buffers dropped plus those
    a camera skipped because infer had not taken the previous ones (MJPEG: the cameras do not wait, as cameras
    don't; RTSP: the frames that never arrived, against 15 fps per camera).
Where the time goes comes from infer's own CPU accounting (darkedge_cpu_seconds_total: the readers' receiving and
parsing, JPEG decoding, resizing; the loop's Python) and the wall time of its predictor calls, per second of the
probe, beside the process's whole CPU use and the cameras' server's. The search: a probe at --start cameras gives
CPU seconds per camera-second, which estimates the capacity; then probes around the estimate, bisecting between
the largest count sustained and the smallest not, to within 10 %, at most --probes probes per model. The cameras'
server shares the box's cores with infer, which real cameras would not.

`reader thread` reads each MJPEG camera on a thread of its own, as darkedge did before one shared thread and a
selector read them all (darkedge.infer.mjpeg_hub): the same setup measured both ways.

`hop` default is what `darkedge infer` picks (about half the window's span, in whole frame steps: about one
window a second per camera);
1 is a window at every frame, where the model's cost decides. `>= N` in the table: N cameras (the most probed, at
most --max-cameras) were sustained and no count above failed.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families
from rtsp_server import RtspCamera, free_port

from darkedge.bench.machine import machine_info
from darkedge.cores import usable_cores
from darkedge.feeding import Feeding
from darkedge.fileio import save_figure, write_json, write_text
from darkedge.names import BUILTIN_DATA

HERE = Path(__file__).parent
RESULTS = HERE / "results"
MODELS = {
    "student_int8": "INT8 student",
    "student_fp32": "FP32 student",
    "teacher_fp32": "enhance-then-classify FP32",
    "two_stream_fp32": "two-stream FP32",
}
FPS = 15.0


@dataclass(frozen=True)
class Setup:
    """What the cameras send and how infer takes it: protocol, frame size, hop (None: infer's default), decoding."""

    protocol: str  # mjpeg or rtsp
    size: str  # WIDTHxHEIGHT
    hop: int | None
    decode: str  # needed (darkedge's) or all (every frame at full size, as before)
    models: tuple[str, ...]
    reader: str = "shared"  # MJPEG: one thread for every camera (darkedge's), or a thread per camera (before)

    @property
    def name(self) -> str:
        name = f"{self.protocol} {self.size} hop {self.hop or 'default'} decode {self.decode}"
        return name + (" reader thread" if self.reader == "thread" else "")


ALL_MODELS = tuple(MODELS)
SETUPS = (
    Setup("mjpeg", "320x240", None, "needed", ALL_MODELS),
    Setup("mjpeg", "320x240", None, "needed", ("student_int8", "two_stream_fp32"), reader="thread"),
    Setup("mjpeg", "320x240", None, "all", ("student_int8", "two_stream_fp32"), reader="thread"),
    Setup("rtsp", "320x240", None, "needed", ("student_int8", "two_stream_fp32")),
    Setup("rtsp", "640x360", None, "needed", ("student_int8", "two_stream_fp32")),
    Setup("mjpeg", "320x240", 1, "needed", ("student_int8", "two_stream_fp32")),
)
MAX_LOSS = 0.01  # lost frames / frames due
# until every camera has produced a window: OpenCV opens RTSP streams one at a time (0.36 s each here)
READY_TIMEOUT_S, READY_PER_CAMERA_S = 90.0, 0.5


@dataclass
class Probe:
    """One run of N cameras in one setup: whether the box kept up, the numbers that decide it, where time went."""

    model: str
    setup: str  # Setup.name
    hop: int
    cameras: int
    sustained: bool
    ready: bool  # every camera produced a window before READY_TIMEOUT_S
    lag_p99_s: float  # worst camera, over the last 10 s of the measurement
    lag_p50_s: float  # median over cameras of their p50
    loss: float  # (dropped by infer + skipped by the cameras, or never arrived) / frames due
    dropped: int
    late: int
    windows_skipped: int
    windows_per_s: float
    calls_per_s: float
    fps_in_min: float  # slowest camera's frames read per second
    decoded_share: float  # frames decoded / frames read
    cpu_infer: float  # cores busy in the infer process
    cpu_cameras: float  # cores busy serving the cameras
    # where infer's time went, per second: its readers' CPU (receiving and parsing; through OpenCV, decoding too),
    # JPEG decoding, resizing and cropping, the loop's Python, and the wall time of the predictor calls
    cpu_read: float
    cpu_decode: float
    cpu_prepare: float
    cpu_loop: float
    model_s: float
    seconds: float
    ready_s: float = float("nan")  # from infer's start until every camera had produced a window (inf: never)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of infer's /metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def per_camera(metrics: dict, name: str) -> dict[str, float]:
    """{camera: value} of one per-camera metric."""
    return {dict(labels)["camera"]: v for (n, labels), v in metrics.items() if n == name}


class MjpegCameras:
    """N loopback MJPEG cameras in a subprocess; `counts` asks it for frames sent and skipped so far."""

    def __init__(self, count: int, size: str):
        command = [sys.executable, str(HERE / "mjpeg_server.py"), "--cameras", str(count), "--fps", str(FPS)]
        self.process = subprocess.Popen([*command, "--size", size], stdout=subprocess.PIPE, text=True)
        self.urls = [self.process.stdout.readline().strip() for _ in range(count)]
        if not all(self.urls):  # it printed fewer URLs than cameras: it died (port taken, out of descriptors)
            self.close()
            raise RuntimeError(f"mjpeg_server: exited before serving {count} cameras")

    def counts(self) -> tuple[int, int]:
        """(frames sent, frames skipped for slow clients), over every camera."""
        self.process.send_signal(signal.SIGUSR1)
        counts = json.loads(self.process.stdout.readline())
        return sum(counts["sent"]), sum(counts["late"])

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


FOOTAGE = Path(BUILTIN_DATA) / "clips"  # the RTSP cameras' footage: the built-in dark clips (noise added)
RTSP_KBPS = 512  # their bitrate cap


class RtspCameras:
    """N RTSP cameras: N clients of one H.264 mount streaming night footage at RTSP_KBPS (encoded once: no
    encoder on the box's cores while they are measured); what they were due is 15 fps each."""

    def __init__(self, count: int, size: str):
        self.server = RtspCamera(
            mounts=1, size=size, fps=int(FPS), footage=FOOTAGE, bitrate=RTSP_KBPS
        ).start()
        self.process = self.server.process
        self.urls = [f"cam{i}={self.server.urls[0]}" for i in range(count)]
        self.count, self.started = count, time.monotonic()

    def counts(self) -> tuple[int, int]:
        return round(self.count * FPS * (time.monotonic() - self.started)), 0

    def close(self) -> None:
        self.server.close()


CAMERAS = {"mjpeg": MjpegCameras, "rtsp": RtspCameras}


@dataclass
class Snapshot:
    """What infer and the cameras had counted at one moment."""

    metrics: dict[tuple[str, tuple], float]
    sent: int
    late: int
    cpu: tuple[float, float]  # CPU seconds of infer and of the cameras
    time: float

    @classmethod
    def take(cls, url: str, cameras, processes: tuple[psutil.Process, ...]) -> Snapshot:
        metrics, (sent, late) = scrape(url), cameras.counts()
        cpu = tuple(sum(p.cpu_times()[:2]) for p in processes)
        return cls(metrics, sent, late, cpu, time.monotonic())


def probe(
    model: Path, name: str, count: int, setup: Setup, hop: int, frame_step: int, span_s: float, args
) -> Probe:
    """Run `count` cameras through infer and measure (see the module docstring)."""
    cameras = CAMERAS[setup.protocol](count, setup.size)
    try:
        return run_probe(model, name, count, setup, hop, frame_step, span_s, args, cameras)
    finally:
        cameras.close()


def run_probe(
    model: Path, name: str, count: int, setup: Setup, hop: int, frame_step: int, span_s: float, args, cameras
) -> Probe:
    """probe() once its cameras serve."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "cameras.txt"
        sources.write_text("\n".join(cameras.urls) + "\n")
        command = [
            sys.executable,
            "-m",
            "darkedge",
            "infer",
            "--sources",
            str(sources),
            "--model",
            str(model),
        ]
        command += ["--threads", str(args.threads), "--max-batch", str(args.max_batch)]
        command += ["--frame-step", str(frame_step), "--hop", str(hop), "--metrics-port", str(port)]
        command += [
            "--events",
            str(Path(tmp) / "events.jsonl"),
            "--set",
            f"decode_all={setup.decode == 'all'}",
            "--set",
            f"mjpeg_reader={setup.reader}",
        ]
        log = Path(tmp) / "stderr.txt"
        with open(log, "w") as stderr:
            infer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        began = time.monotonic()
        try:
            ready = wait_ready(url, count, infer, log)
            ready_s = time.monotonic() - began if ready else float("inf")
            time.sleep(args.warmup if ready else 0)
            processes = (psutil.Process(infer.pid), psutil.Process(cameras.process.pid))
            a = Snapshot.take(url, cameras, processes)
            time.sleep(args.measure)
            b = Snapshot.take(url, cameras, processes)
        except (
            OSError
        ) as e:  # infer so far behind that its metrics endpoint did not answer within the timeout
            print(f"  {name} {setup.name}: {count} cameras: no answer from /metrics ({e})", file=sys.stderr)
            return unanswered(name, setup, hop, count, ready)
        finally:
            infer.send_signal(signal.SIGTERM)
            try:
                infer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                infer.kill()
    result = measured(name, setup, hop, count, ready, a, b, span_s)
    result.ready_s = ready_s
    return result


def unanswered(name: str, setup: Setup, hop: int, count: int, ready: bool) -> Probe:
    """A probe whose infer process could not even answer its metrics endpoint: not sustained, nothing measured."""
    inf = float("inf")
    return Probe(
        model=name, setup=setup.name, hop=hop, cameras=count, sustained=False, ready=ready, lag_p99_s=inf,
        lag_p50_s=inf, loss=1.0, dropped=0, late=0, windows_skipped=0, windows_per_s=0.0, calls_per_s=0.0,
        fps_in_min=0.0, decoded_share=0.0, cpu_infer=0.0, cpu_cameras=0.0, cpu_read=0.0, cpu_decode=0.0,
        cpu_prepare=0.0, cpu_loop=0.0, model_s=0.0, seconds=0.0,
    )  # fmt: skip


def measured(
    name: str, setup: Setup, hop: int, count: int, ready: bool, a: Snapshot, b: Snapshot, span_s: float
) -> Probe:
    """The probe's numbers from the snapshots at the start and the end of the measurement."""
    seconds = b.time - a.time

    def delta(metric: str) -> dict[str, float]:
        before = per_camera(a.metrics, metric)
        return {c: v - before.get(c, 0.0) for c, v in per_camera(b.metrics, metric).items()}

    def total(metric: str, labels: tuple = ()) -> float:
        return (b.metrics.get((metric, labels), 0.0) - a.metrics.get((metric, labels), 0.0)) / seconds

    frames = sum(delta("darkedge_camera_frames_total").values())
    dropped, late = sum(delta("darkedge_camera_frames_dropped_total").values()), b.late - a.late
    due = (b.sent - a.sent) + late
    if setup.protocol == "rtsp":  # what never arrived is lost too
        late = max(0, round(due - frames))
    lag_p99 = per_camera(b.metrics, "darkedge_camera_lag_p99_seconds")
    lag_p50 = sorted(per_camera(b.metrics, "darkedge_camera_lag_p50_seconds").values())
    worst_lag = max(lag_p99.values()) if len(lag_p99) == count else float("inf")
    loss = (dropped + late) / due if due else 1.0
    cpu = {
        part: total("darkedge_cpu_seconds_total", (("part", part),))
        for part in ("read", "decode", "prepare", "loop")
    }
    return Probe(
        model=name,
        setup=setup.name,
        hop=hop,
        cameras=count,
        sustained=ready and worst_lag < span_s and loss < MAX_LOSS,
        ready=ready,
        lag_p99_s=worst_lag,
        lag_p50_s=lag_p50[len(lag_p50) // 2] if lag_p50 else float("inf"),
        loss=loss,
        dropped=int(dropped),
        late=int(late),
        windows_skipped=int(sum(delta("darkedge_camera_windows_skipped_total").values())),
        windows_per_s=sum(delta("darkedge_camera_windows_total").values()) / seconds,
        calls_per_s=total("darkedge_inference_calls_total"),
        fps_in_min=min(delta("darkedge_camera_frames_total").values(), default=0.0) / seconds,
        decoded_share=sum(delta("darkedge_camera_decoded_total").values()) / max(frames, 1),
        cpu_infer=(b.cpu[0] - a.cpu[0]) / seconds,
        cpu_cameras=(b.cpu[1] - a.cpu[1]) / seconds,
        cpu_read=cpu["read"],
        cpu_decode=cpu["decode"],
        cpu_prepare=cpu["prepare"],
        cpu_loop=cpu["loop"],
        model_s=total("darkedge_inference_seconds_total"),
        seconds=seconds,
    )


def wait_ready(url: str, count: int, infer: subprocess.Popen, log: Path) -> bool:
    """Until every camera has produced a window (True), or the ready timeout passes (False); infer must not exit."""
    deadline = time.monotonic() + READY_TIMEOUT_S + READY_PER_CAMERA_S * count
    while time.monotonic() < deadline:
        if infer.poll() is not None:
            raise SystemExit(f"darkedge infer exited: {log.read_text()[-2000:]}")
        try:
            windows = per_camera(scrape(url), "darkedge_camera_windows_total")
            if len(windows) == count and min(windows.values()) >= 1:
                return True
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    return False


def search(
    model: Path, name: str, setup: Setup, hop: int, frame_step: int, span_s: float, args
) -> list[Probe]:
    """Probes until the largest sustained camera count is known to within 10 % (or --probes are spent).

    Upwards, the next count is what the CPU use of the largest sustained probe extrapolates to (90 % of the
    cores), at least 15 % more and at most four times as many; once a count fails, bisection.
    """
    probes: list[Probe] = []
    guess = args.start
    while len(probes) < args.probes and not any(p.cameras == guess for p in probes):
        probes.append(probe(model, name, guess, setup, hop, frame_step, span_s, args))
        report(probes[-1])
        top = best(probes)
        low = top.cameras if top else 0
        high = min((p.cameras for p in probes if not p.sustained and p.cameras > low), default=None)
        if high is not None and high - low <= max(1, round(0.1 * low)):
            break
        if high is not None:
            guess = (low + high) // 2 if low else max(1, high // 2)
            continue
        busy = top.cpu_infer + top.cpu_cameras
        extrapolated = round(low * 0.9 * usable_cores() / max(busy, 1e-3))
        guess = min(args.max_cameras, max(round(low * 1.15) + 1, min(4 * low, extrapolated)))
        if guess <= low:
            break
    return probes


def report(p: Probe) -> None:
    verdict = "sustained" if p.sustained else "NOT sustained"
    print(
        f"  {p.model} {p.setup}: {p.cameras} cameras {verdict}: lag p99 {p.lag_p99_s * 1000:.0f} ms, "
        f"loss {100 * p.loss:.2f} %, {p.windows_per_s:.0f} windows/s in {p.calls_per_s:.0f} calls/s, "
        f"CPU infer {p.cpu_infer:.2f} + cameras {p.cpu_cameras:.2f} cores",
        flush=True,
    )


def best(probes: list[Probe]) -> Probe | None:
    """The largest camera count sustained."""
    sustained = [p for p in probes if p.sustained]
    return max(sustained, key=lambda p: p.cameras) if sustained else None


def plot(probes: list[Probe], setups: list[str], span_s: float, path: Path) -> Path:
    """Lag p99 against camera count, one panel per setup, one line per model (filled: sustained)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    cols = min(3, len(setups))
    rows = -(-len(setups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
    for ax, setup in zip(axes.flat, setups, strict=False):
        for i, (name, label) in enumerate(MODELS.items()):
            points = sorted(
                (p.cameras, p.lag_p99_s * 1000, p.sustained)
                for p in probes
                if p.model == name and p.setup == setup and p.ready
            )
            if not points:
                continue
            color = f"C{i}"
            ax.plot([x for x, _, _ in points], [y for _, y, _ in points], color=color, label=label)
            for x, y, ok in points:
                ax.plot(x, y, "o", color=color, markerfacecolor=color if ok else "white")
        ax.axhline(span_s * 1000, color="grey", linestyle="--", linewidth=1, label="one window")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("cameras (15 fps)")
        ax.set_ylabel("lag p99, ms (worst camera)")
        ax.set_title(setup, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(setups) :]:
        ax.axis("off")
    fig.suptitle(
        "darkedge infer: lag against cameras (filled: sustained, lag under a window, lost frames < 1 %)"
    )
    return save_figure(fig, path)


def capacities(probes: list[Probe]) -> dict[str, tuple[int, bool]]:
    """{model: (cameras sustained, whether no count above failed)} of one setup's probes."""
    found = {}
    for name in MODELS:
        mine = [p for p in probes if p.model == name]
        top = best(mine)
        if top is not None:
            found[name] = (top.cameras, not any(not p.sustained and p.cameras > top.cameras for p in mine))
    return found


def ratio_line(capacity: dict[str, tuple[int, bool]]) -> str:
    if "student_int8" not in capacity or "two_stream_fp32" not in capacity:
        return ""
    (int8, int8_more), (two, two_more) = capacity["student_int8"], capacity["two_stream_fp32"]
    ratio = int8 / two  # a lower bound when the INT8 count may be higher, an upper one for two-stream
    bound = "" if int8_more == two_more else ">= " if int8_more else "<= "
    if int8_more and two_more:
        verdict = "unknown: neither count found its limit"
    elif bound == ">= ":
        verdict = "met" if ratio >= 5 else "unknown"
    elif bound == "<= ":
        verdict = "not met" if ratio < 5 else "unknown"
    else:
        verdict = "met" if ratio >= 5 else "not met"
    return f"INT8 student / two-stream FP32: {bound}{ratio:.1f}x the cameras (target >= 5x: {verdict})."


def started(ready_s: float) -> str:
    """The 'all started' cell: seconds, 'never' (not within the ready timeout), or blank (not recorded)."""
    if math.isnan(ready_s):
        return ""
    return "never" if math.isinf(ready_s) else f"{ready_s:.0f}"


def markdown(result: dict) -> str:
    """The committed report: cameras sustained per model and setup, where the time goes, every probe."""
    lines = [
        "# Cameras per box: `darkedge infer` on N loopback cameras",
        "",
        f"Written by `{result['command']}` ({result['source']}).",
        f"Cameras: {FPS:g} fps on 127.0.0.1, served from one process on the same box (MJPEG over HTTP, or RTSP with",
        f"H.264). infer: OpenVINO, --threads {result['threads']}, --max-batch {result['max_batch']}, frame step "
        f"{result['frame_step']}, window span {result['span_frames']} frames ({result['span_s']:.2f} s). Sustained:",
        f"lag p99 (worst camera, last 10 s of {result['measure_s']:g} s measured) under the span, and lost frames "
        "under 1 %. Decode `needed`: only the frames a window uses (MJPEG: at the JPEG scale the model needs);",
        "`all`: every frame at full size, as darkedge did before. MJPEG cameras are read by one shared thread and a",
        "selector (darkedge.infer.mjpeg_hub), or with `reader thread` by a thread per camera, as darkedge did before.",
        "",
    ]
    if result.get("carried"):
        carried = result["carried"]
        lines += [
            f"The probes of {', '.join(carried['setups'])} are kept from an earlier run on this machine,",
            f"`{carried['command']}` ({carried['created']}); the rest are this run's.",
            "",
        ]
    for setup in result["setups"]:
        probes = [Probe(**p) for p in result["probes"] if p["setup"] == setup]
        if not probes:
            continue
        lines += [
            f"## {setup}",
            "",
            "| model | cameras sustained | lag p99 ms | lost % | windows/s | decoded | CPU infer + cameras | "
            "infer's time per s: read / decode / prepare / loop CPU, model wall |",
            "|---|---|---|---|---|---|---|---|",
        ]
        capacity = capacities(probes)
        for name, label in MODELS.items():
            mine = [p for p in probes if p.model == name]
            if not mine:
                continue
            if name not in capacity:
                lines.append(f"| {label} | 0 (none of {sorted(p.cameras for p in mine)}) | | | | | | |")
                continue
            cameras, at_least = capacity[name]
            top = best(mine)
            lines.append(
                f"| {label} | {'>= ' if at_least else ''}{cameras} | {top.lag_p99_s * 1000:.0f} | "
                f"{100 * top.loss:.2f} | {top.windows_per_s:.0f} | {100 * top.decoded_share:.0f} % | "
                f"{top.cpu_infer:.2f} + {top.cpu_cameras:.2f} | {top.cpu_read:.2f} / {top.cpu_decode:.2f} / "
                f"{top.cpu_prepare:.2f} / {top.cpu_loop:.2f}, {top.model_s:.2f} |"
            )
        line = ratio_line(capacity)
        lines += (["", line] if line else []) + [""]
    lines += [
        "## Every probe",
        "",
        "| model | setup | cameras | sustained | lag p50 / p99 ms | lost % (dropped + camera-skipped) | windows skipped | slowest camera fps | CPU infer + cameras | all started, s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted((Probe(**p) for p in result["probes"]), key=lambda p: (p.setup, p.model, p.cameras)):
        lines.append(
            f"| {MODELS[p.model]} | {p.setup} | {p.cameras} | {'yes' if p.sustained else 'no'} | "
            f"{p.lag_p50_s * 1000:.0f} / {p.lag_p99_s * 1000:.0f} | {100 * p.loss:.2f} ({p.dropped} + {p.late}) | "
            f"{p.windows_skipped} | {p.fps_in_min:.1f} | {p.cpu_infer:.2f} + {p.cpu_cameras:.2f} | "
            f"{started(p.ready_s)} |"
        )
    info = result["machine"]
    lines += [
        "",
        "![lag against cameras](cameras.png)",
        "",
        f"Machine: {info['cpu']} ({info['architecture']}), {info['usable_cores']} usable cores, load average "
        f"{info['load_average_1min']:.1f} at the end, {info['os']}, Python {info['python']}. Took {result['minutes']:.1f} min.",
        "",
        "Libraries: " + ", ".join(f"{n} {v}" for n, v in info["libraries"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def models_and_feeding(args, folder: Path) -> tuple[dict[str, Path], int, int, str]:
    """({name: IR}, frames per window, frame step, where they come from)."""
    if args.random:
        from darkedge.bench.preset_models import make_preset_models
        from darkedge.config import make_config

        cfg = make_config(args.preset)
        made = make_preset_models(args.preset, folder, int8_models=("student",))
        source = f"random-weight models at the '{args.preset}' preset (INT8: NNCF PTQ)"
        return {n: made[n][0] for n in MODELS if n in made}, cfg.num_frames, cfg.frame_step, source
    from bench_latency import run_models

    from darkedge.run import open_run

    cfg = open_run(args.run).config
    models = run_models(args.run)
    missing = [n for n in MODELS if n not in models]
    if missing:
        raise SystemExit(f"{args.run}: no {', '.join(missing)} export (darkedge train && darkedge quantize)")
    return {n: models[n][0] for n in MODELS}, cfg.num_frames, cfg.frame_step, f"run {args.run.resolve()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/latest"))
    parser.add_argument("--random", action="store_true", help="random-weight preset models instead of a run")
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--only", default="", help="only the setups whose name holds one of these texts (comma-separated)"
    )
    parser.add_argument("--models", default=",".join(MODELS), help="of each setup's, only these")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--start", type=int, default=16, help="cameras in the first probe")
    parser.add_argument("--max-cameras", type=int, default=1024)
    parser.add_argument("--probes", type=int, default=5, help="probes per model and setup at most")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after every camera has a window")
    parser.add_argument("--measure", type=float, default=10.0, help="seconds measured (at least 10)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="an earlier cameras.json: its probes of the setups and models this run does not measure are kept",
    )
    args = parser.parse_args()
    began = time.monotonic()
    texts = [t for t in args.only.split(",") if t] or [""]
    chosen = [s for s in SETUPS if any(t in s.name for t in texts)]
    if any(s.protocol == "rtsp" for s in chosen):
        from rtsp_server import available

        if not available():
            print(
                "no GStreamer RTSP server here (see benchmarks/rtsp_server.py): the RTSP setups are skipped"
            )
            chosen = [s for s in chosen if s.protocol != "rtsp"]
    wanted = {n.strip() for n in args.models.split(",") if n.strip()}
    args.carried, args.carried_from = [], None
    if args.keep is not None:
        earlier = json.loads(args.keep.read_text())
        planned = {(setup.name, name) for setup in chosen for name in setup.models if name in wanted}
        args.carried = [p for p in earlier["probes"] if (p["setup"], p["model"]) not in planned]
        kept = sorted({p["setup"] for p in args.carried})
        args.carried_from = {"command": earlier["command"], "created": earlier["created"], "setups": kept}
    with tempfile.TemporaryDirectory() as tmp:
        models, num_frames, frame_step, source = models_and_feeding(args, Path(tmp))
        feeding = Feeding(num_frames, frame_step, 1, 1)  # its frames and step: which frames a window reads
        span = feeding.span
        probes = []
        for setup in chosen:
            hop = setup.hop or feeding.default_hop
            for name in (n for n in setup.models if n in wanted):
                print(f"{MODELS[name]}, {setup.name}:", flush=True)
                probes += search(models[name], name, setup, hop, frame_step, span / FPS, args)
                # the report so far, after every search: a long run stopped part-way keeps what it measured
                write_results(args, source, frame_step, span, chosen, probes, began)
    print(markdown(write_results(args, source, frame_step, span, chosen, probes, began)))


def write_results(
    args, source: str, frame_step: int, span: int, chosen, probes: list[Probe], began: float
) -> dict:
    """cameras.json, .md and .png from the probes so far (and those kept from --keep); returns the result."""
    measured_probes = args.carried + [asdict(p) for p in probes]
    result = {
        "schema_version": 2,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": shlex.join(["python", "benchmarks/bench_cameras.py", *sys.argv[1:]]),
        "source": source,
        "threads": args.threads,
        "max_batch": args.max_batch,
        "frame_step": frame_step,
        "span_frames": span,
        "span_s": span / FPS,
        "measure_s": args.measure,
        "setups": [s.name for s in SETUPS if any(p["setup"] == s.name for p in measured_probes)],
        "probes": measured_probes,
        "carried": args.carried_from,
        "machine": machine_info(),
        "minutes": (time.monotonic() - began) / 60,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "cameras.json", result)
    write_text(args.out / "cameras.md", markdown(result))
    plot([Probe(**p) for p in measured_probes], result["setups"], span / FPS, args.out / "cameras.png")
    return result


if __name__ == "__main__":
    main()
