"""`darkedge bench cameras`: how many cameras this box keeps up with, for one model and one kind of stream.

    darkedge bench cameras --model runs/latest/export/student_int8.xml                 # the built-in dark clips
    darkedge bench cameras --model student_int8.xml --footage night.mp4 --set size=640x360
    darkedge bench cameras --model student_int8.xml --sources cameras.txt              # the box's own cameras
    darkedge bench cameras --model student_int8.xml --set decoder=nvdec                # a Jetson's hardware decoder

A probe at N cameras: N cameras and one `darkedge infer` process watching all N, as a box runs it. The cameras are
loopback servers on this box streaming the footage (a video file or a folder of them, the built-in dark clips by
default) as night cameras send it (darkedge.bench.loopback: scaled to the stream's size, sensor noise added,
looped; RTSP with H.264 or H.265 at a bitrate cap and a key frame every 2 s, encoded once before the probes; or
MJPEG over HTTP), every camera a client of the same stream as several viewers of one camera are; or the URLs of a
sources file, taken in turn (camera i watches URL i mod the count: a camera serves several viewers). Once every
camera has produced a window, a warm-up, then `measure_s` seconds read from infer's own metrics endpoint and the
cameras' counters. N is sustained when
  - lag p99 (a frame's arrival to its window's result, worst camera, last 10 s) is under one window's span, and
  - lost frames are under 1 % of the frames the cameras had to send (MJPEG: those infer's buffers dropped plus
    those the server skipped because infer had not taken the previous ones; RTSP and given URLs: the frames that
    never arrived, against `fps` per camera).
Where the time goes comes from infer's CPU accounting (receiving and parsing, decoding, resizing and cropping, the
loop's Python) and the wall time of its predictor calls. The search: a first probe at `start` cameras gives CPU
seconds per camera-second, which estimates the capacity; then probes around the estimate, bisecting between the
largest count sustained and the smallest not, to within 10 %, at most `probes` counts (a failing count probed
again, `confirm`, is one count). Loopback servers share the box's cores with infer, which real cameras would not:
the report shows their share.

Writes OUT/cameras.{md,json,png}: the box, the model, the stream, each probe, and lag against camera count.
benchmarks/bench_cameras.py runs this for several models and streams (cameras.md).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from darkedge.errors import DarkedgeError
from darkedge.names import BUILTIN_DATA
from darkedge.settings import at_least

log = logging.getLogger(__name__)

PROTOCOLS = ("rtsp", "mjpeg")  # the loopback cameras'
MAX_LOSS = 0.01  # lost frames / frames due
# until every camera has produced a window: OpenCV opens RTSP streams one at a time
READY_TIMEOUT_S, READY_PER_CAMERA_S = 90.0, 0.5
CPU_PARTS = ("read", "decode", "prepare", "loop")  # darkedge_cpu_seconds_total's parts


@dataclass
class CamerasConfig:
    """Everything `darkedge bench cameras` takes."""

    model: str = ""  # what infer runs: an export (.xml, .onnx, .engine) or a checkpoint (.pt)
    # the loopback cameras' footage: a video file or a folder of them ("": the built-in dark clips)
    footage: str = ""
    # a file of camera URLs (as infer --sources takes) to probe instead of loopback cameras
    sources: str | None = None
    # the loopback cameras': rtsp (H.264/H.265, GStreamer's server) or mjpeg (over HTTP)
    protocol: str = "rtsp"
    size: str = "320x240"  # the loopback streams' WIDTHxHEIGHT
    fps: int = 15  # the cameras' frame rate (given URLs: what they are due to send)
    codec: str = "h264"  # rtsp: h264 or h265
    bitrate: int = 512  # rtsp: kbps cap, as camera substreams are set (256, 512, 1024)
    # sensor noise added to the footage, 8-bit levels (None: darkedge.bench.loopback.footage.NOISE)
    noise: float | None = None
    # how infer runs (its settings of the same names)
    backend: str | None = None
    threads: int | None = None  # None: every usable core
    max_batch: int = 8
    hop: int | None = None  # None: the model's default (about half a window's span)
    frame_step: int | None = None  # None: the model's
    decoder: str = "ffmpeg"
    mjpeg_reader: str = "shared"
    decode_all: bool = False
    # the search
    start: int = 16  # cameras in the first probe
    max_cameras: int = 1024
    probes: int = 6  # camera counts probed, at most
    confirm: bool = True  # a count that fails is probed again before it bounds the search (see search)
    warmup_s: float = 3.0  # after every camera has produced a window
    measure_s: float = 10.0  # at least 10: the lag p99 infer reports covers the last 10 s
    out: str = "runs/cameras"  # cameras.{md,json,png} go here
    name: str = ""  # the model's name in the report ("": its file's)

    def __post_init__(self) -> None:
        at_least(self, 1, ("fps", "bitrate", "max_batch", "start", "max_cameras", "probes", "threads", "hop",
                           "frame_step"))  # fmt: skip
        at_least(self, 0, ("warmup_s", "noise"))
        at_least(self, 10, ("measure_s",))
        if self.protocol not in PROTOCOLS:
            raise DarkedgeError(f"protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        from darkedge.bench.loopback.rtsp import CODECS

        if self.codec not in CODECS:
            raise DarkedgeError(f"codec {self.codec!r}: expected one of {', '.join(CODECS)}")
        parse_size(self.size)
        self.infer_config()  # infer's own checks of decoder, mjpeg_reader, ...

    def infer_config(self):
        """The InferConfig a probe's infer runs with (less its cameras): its checks are infer's."""
        from darkedge.infer.command import InferConfig

        return InferConfig(
            model=self.model, backend=self.backend, threads=self.threads, max_batch=self.max_batch, hop=self.hop,
            frame_step=self.frame_step, decoder=self.decoder, mjpeg_reader=self.mjpeg_reader,
            decode_all=self.decode_all,
        )  # fmt: skip

    @property
    def stream(self) -> str:
        """The stream in words, for the report."""
        if self.sources:
            return f"the cameras of {self.sources} (taken in turn), {self.fps} fps due"
        footage = self.footage or f"{BUILTIN_DATA}/clips"
        if self.protocol == "mjpeg":
            kind = "MJPEG over HTTP (JPEG quality 80)"
        else:
            kind = f"RTSP {self.codec.upper()} at {self.bitrate} kbps, a key frame every 2 s"
        return f"{kind}, {self.size} at {self.fps} fps: {footage} looped, sensor noise added"

    @property
    def setup(self) -> str:
        """The stream and how infer takes it, short: a report's section name."""
        if self.sources:
            name = f"given {Path(self.sources).name}"
        else:
            name = f"{self.protocol} {self.size}" + (
                f" {self.codec} {self.bitrate} kbps" if self.protocol == "rtsp" else ""
            )
        name += f" hop {self.hop or 'default'} decode {'all' if self.decode_all else 'needed'}"
        if self.decoder != "ffmpeg":
            name += f" decoder {self.decoder}"
        return name + (" reader thread" if self.mjpeg_reader == "thread" else "")


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) of WIDTHxHEIGHT."""
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise DarkedgeError(f"size {size!r}: expected WIDTHxHEIGHT, e.g. 320x240") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise DarkedgeError(f"size {size!r}: need even sides of at least 16 pixels")
    return width, height


@dataclass
class Probe:
    """One run of N cameras: whether the box kept up, the numbers that decide it, where the time went."""

    model: str
    setup: str
    hop: int
    cameras: int
    sustained: bool
    ready: bool  # every camera produced a window before the ready timeout
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
    # decoding, resizing and cropping, the loop's Python, and the wall time of the predictor calls
    cpu_read: float
    cpu_decode: float
    cpu_prepare: float
    cpu_loop: float
    model_s: float
    seconds: float
    ready_s: float = float("nan")  # from infer's start until every camera had produced a window (inf: never)
    # the box's UDP datagrams per second (RTP over UDP: RTSP's), received, and dropped by the kernel because a
    # socket's receive buffer was full (its reader had not taken the earlier ones): loss on the way in
    udp_in: float = float("nan")
    udp_dropped: float = float("nan")


# ---- the cameras ------------------------------------------------------------------------------------------------


class MjpegCameras:
    """N loopback MJPEG cameras in a subprocess; `counts` asks it for frames sent and skipped so far."""

    def __init__(self, cfg: CamerasConfig, count: int, footage: Path):
        command = [sys.executable, "-m", "darkedge.bench.loopback.mjpeg", "--cameras", str(count)]
        command += ["--fps", str(cfg.fps), "--size", cfg.size, "--footage", str(footage)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.urls = [self.process.stdout.readline().strip() for _ in range(count)]
        if not all(self.urls):  # it printed fewer URLs than cameras: it died (port taken, out of descriptors)
            self.close()
            raise DarkedgeError(f"loopback MJPEG server: exited before serving {count} cameras")

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


class DueCameras:
    """N cameras whose frames due are counted by the clock: `fps` each (RTSP, given URLs)."""

    def __init__(self, urls: list[str], count: int, fps: int, process: subprocess.Popen | None = None):
        self.urls = [f"cam{i}={urls[i % len(urls)]}" for i in range(count)]
        self.count, self.fps, self.started = count, fps, time.monotonic()
        self.process = process  # the loopback server serving them, if any (its CPU is measured)

    def counts(self) -> tuple[int, int]:
        return round(self.count * self.fps * (time.monotonic() - self.started)), 0

    def close(self) -> None:
        pass


class RtspServer:
    """The loopback RTSP stream every probe's cameras watch: the footage loop encoded once, served until close."""

    def __init__(self, cfg: CamerasConfig, footage: Path):
        from darkedge.bench.loopback.rtsp import RtspCamera, available

        if not available():
            raise DarkedgeError(
                "protocol rtsp: no GStreamer RTSP server with x264 here (Debian: gstreamer1.0-rtsp "
                "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-ugly); or --set protocol=mjpeg"
            )
        self.camera = RtspCamera(mounts=1, size=cfg.size, fps=cfg.fps, footage=footage, codec=cfg.codec,
                                 bitrate=cfg.bitrate, noise=cfg.noise).start()  # fmt: skip

    def serving(self, target: Target) -> Target:
        """`target` with its cameras watching this stream."""
        return replace(target, urls=tuple(self.camera.urls), server=self.camera.process)

    def close(self) -> None:
        self.camera.close()


def read_urls(path: str) -> list[str]:
    """The URLs of a sources file (NAME=URL lines as infer takes, at least one; the probe names the cameras)."""
    from darkedge.infer.sources import read_sources_file, split_name

    return [split_name(spec)[1] for spec in read_sources_file(path)]


# ---- one probe --------------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """What infer and the cameras had counted at one moment."""

    metrics: dict[tuple[str, tuple], float]
    sent: int
    late: int
    cpu: tuple[float, float]  # CPU seconds of infer and of the cameras' server
    time: float
    udp: tuple[float, float]  # the box's UDP datagrams received and dropped for full receive buffers so far

    @classmethod
    def take(cls, port: int, cameras, processes: tuple) -> Snapshot:
        metrics, (sent, late) = scrape(port), cameras.counts()
        cpu = tuple(sum(p.cpu_times()[:2]) if p is not None else 0.0 for p in processes)
        return cls(metrics, sent, late, cpu, time.monotonic(), udp_counters())


def udp_counters() -> tuple[float, float]:
    """(UDP datagrams received, dropped for a full receive buffer) since boot, box-wide (Linux; else NaN)."""
    try:
        lines = [
            line.split()
            for line in Path("/proc/net/snmp").read_text().splitlines()
            if line.startswith("Udp:")
        ]
        counters = dict(zip(lines[0][1:], map(float, lines[1][1:]), strict=True))
        return counters["InDatagrams"], counters["RcvbufErrors"]
    except (OSError, IndexError, KeyError, ValueError):
        return float("nan"), float("nan")


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of /metrics of the infer process a probe started on this box (its
    `--metrics-port`, on the loopback address). OSError when it does not answer within the timeout."""
    from prometheus_client.parser import text_string_to_metric_families

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    except http.client.HTTPException as e:  # a reply cut short: as good as none
        raise OSError(f"/metrics: {type(e).__name__}") from None
    finally:
        connection.close()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def per_camera(metrics: dict, name: str) -> dict[str, float]:
    """{camera: value} of one per-camera metric."""
    return {dict(labels)["camera"]: v for (n, labels), v in metrics.items() if n == name}


@dataclass(frozen=True)
class Target:
    """What a search probes: one model, fed as its file says, on one kind of stream."""

    cfg: CamerasConfig
    name: str  # the model's name in the report
    hop: int
    span_s: float  # a window's span in seconds at the cameras' rate: the lag a box must stay under
    footage: Path | None  # loopback cameras' footage (None: given URLs)
    described: str  # how infer feeds the model, in words
    urls: tuple[str, ...] = ()  # given URLs, or the loopback RTSP stream's
    server: subprocess.Popen | None = None  # the loopback RTSP server's process


def probe(target: Target, count: int) -> Probe:
    """Run `count` cameras through infer and measure (see the module docstring)."""
    cfg = target.cfg
    if cfg.protocol == "mjpeg" and not cfg.sources:
        cameras = MjpegCameras(cfg, count, target.footage)
    else:
        cameras = DueCameras(list(target.urls), count, cfg.fps, target.server)
    try:
        return run_probe(target, count, cameras)
    finally:
        cameras.close()


def infer_command(target: Target, sources: Path, port: int, events: Path) -> list[str]:
    """The `darkedge infer` a probe runs."""
    cfg = target.cfg
    command = [sys.executable, "-m", "darkedge", "infer", "--sources", str(sources), "--model", cfg.model]
    command += ["--max-batch", str(cfg.max_batch), "--hop", str(target.hop), "--metrics-port", str(port)]
    command += ["--events", str(events)]
    for name in ("backend", "threads", "frame_step"):
        if getattr(cfg, name) is not None:
            command += [f"--{name.replace('_', '-')}", str(getattr(cfg, name))]
    for name in ("decoder", "mjpeg_reader", "decode_all"):
        command += ["--set", f"{name}={getattr(cfg, name)}"]
    return command


def run_probe(target: Target, count: int, cameras) -> Probe:
    """probe() once its cameras serve."""
    import psutil

    from darkedge.bench.loopback.rtsp import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="darkedge_cameras_") as tmp:
        sources = Path(tmp) / "cameras.txt"
        sources.write_text("\n".join(cameras.urls) + "\n")
        log_path = Path(tmp) / "stderr.txt"
        with open(log_path, "w") as stderr:
            command = infer_command(target, sources, port, Path(tmp) / "events.jsonl")
            infer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        began = time.monotonic()
        try:
            ready = wait_ready(port, count, infer, log_path)
            ready_s = time.monotonic() - began if ready else float("inf")
            time.sleep(target.cfg.warmup_s if ready else 0)
            server = psutil.Process(cameras.process.pid) if cameras.process is not None else None
            processes = (psutil.Process(infer.pid), server)
            a = Snapshot.take(port, cameras, processes)
            time.sleep(target.cfg.measure_s)
            b = Snapshot.take(port, cameras, processes)
        except (
            OSError
        ) as e:  # infer so far behind that its metrics endpoint did not answer within the timeout
            log.warning("%s cameras: no answer from infer's /metrics (%s)", count, e)
            return unanswered(target, count, ready)
        finally:
            infer.send_signal(signal.SIGTERM)
            try:
                infer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                infer.kill()
                infer.wait()
    result = measured(target, count, ready, a, b)
    result.ready_s = ready_s
    return result


def wait_ready(port: int, count: int, infer: subprocess.Popen, log_path: Path) -> bool:
    """Until every camera has produced a window (True), or the ready timeout passes (False); infer must not exit."""
    deadline = time.monotonic() + READY_TIMEOUT_S + READY_PER_CAMERA_S * count
    while time.monotonic() < deadline:
        if infer.poll() is not None:
            lines = log_path.read_text().strip().splitlines() or ["(nothing on stderr)"]
            raise DarkedgeError(f"darkedge infer exited {infer.returncode}: {lines[-1]}")
        try:
            windows = per_camera(scrape(port), "darkedge_camera_windows_total")
            if len(windows) == count and min(windows.values()) >= 1:
                return True
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    return False


def unanswered(target: Target, count: int, ready: bool) -> Probe:
    """A probe whose infer process could not even answer its metrics endpoint: not sustained, nothing measured."""
    inf = float("inf")
    return Probe(
        model=target.name, setup=target.cfg.setup, hop=target.hop, cameras=count, sustained=False, ready=ready,
        lag_p99_s=inf, lag_p50_s=inf, loss=1.0, dropped=0, late=0, windows_skipped=0, windows_per_s=0.0,
        calls_per_s=0.0, fps_in_min=0.0, decoded_share=0.0, cpu_infer=0.0, cpu_cameras=0.0, cpu_read=0.0,
        cpu_decode=0.0, cpu_prepare=0.0, cpu_loop=0.0, model_s=0.0, seconds=0.0,
    )  # fmt: skip


def measured(target: Target, count: int, ready: bool, a: Snapshot, b: Snapshot) -> Probe:
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
    if target.cfg.sources or target.cfg.protocol == "rtsp":
        late = max(0, round(due - frames))  # what never arrived is lost too
    lag_p99 = per_camera(b.metrics, "darkedge_camera_lag_p99_seconds")
    lag_p50 = sorted(per_camera(b.metrics, "darkedge_camera_lag_p50_seconds").values())
    worst_lag = max(lag_p99.values()) if len(lag_p99) == count else float("inf")
    loss = (dropped + late) / due if due else 1.0
    cpu = {part: total("darkedge_cpu_seconds_total", (("part", part),)) for part in CPU_PARTS}
    return Probe(
        model=target.name,
        setup=target.cfg.setup,
        hop=target.hop,
        cameras=count,
        sustained=ready and worst_lag < target.span_s and loss < MAX_LOSS,
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
        udp_in=(b.udp[0] - a.udp[0]) / seconds,
        udp_dropped=(b.udp[1] - a.udp[1]) / seconds,
    )


# ---- the search -------------------------------------------------------------------------------------------------


def search(target: Target) -> list[Probe]:
    """Probes until the largest sustained camera count is known to within 10 % (or `probes` counts are spent).

    Upwards, the next count is what the CPU use of the largest sustained probe extrapolates to (90 % of the
    cores), at least 15 % more and at most four times as many; once a count fails, bisection. With `confirm`, a
    count that fails is probed once more and fails only if that probe fails too:
    on a shared box one stall must not set the figure (a second run of bench_cameras.py came back 50 % lower from
    one such probe, README "Cameras per box"). A count that held on its second probe bounds nothing, and `probes`
    counts camera counts, not probes: a fourth run stopped at 172 cameras, 17 % below the runs before, after 172 had
    failed once and held once, and 194 had failed once without a second probe."""
    from darkedge.cores import usable_cores

    cfg = target.cfg
    probes: list[Probe] = []
    guess = min(cfg.start, cfg.max_cameras)
    while len({p.cameras for p in probes}) < cfg.probes and not any(p.cameras == guess for p in probes):
        probes.append(probe(target, guess))
        log.info(probe_line(probes[-1]))
        # every new count lies below the counts that failed for good (bisection never goes above them), so a
        # failure is always confirmed; a count that then holds is sustained, and bounds nothing
        if cfg.confirm and not probes[-1].sustained:
            probes.append(probe(target, guess))
            log.info(probe_line(probes[-1]) + " (again)")
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
        guess = min(cfg.max_cameras, max(round(low * 1.15) + 1, min(4 * low, extrapolated)))
        if guess <= low:
            break
    return probes


def probe_line(p: Probe) -> str:
    verdict = "sustained" if p.sustained else "NOT sustained"
    return (
        f"{p.model}, {p.setup}: {p.cameras} cameras {verdict}: lag p99 {p.lag_p99_s * 1000:.0f} ms, "
        f"lost {100 * p.loss:.2f} %, {p.windows_per_s:.0f} windows/s in {p.calls_per_s:.0f} calls/s, "
        f"CPU infer {p.cpu_infer:.2f} + cameras {p.cpu_cameras:.2f} cores"
    )


def best(probes: list[Probe]) -> Probe | None:
    """The largest camera count sustained."""
    sustained = [p for p in probes if p.sustained]
    return max(sustained, key=lambda p: p.cameras) if sustained else None


def capacity(probes: list[Probe]) -> tuple[int, bool] | None:
    """(cameras sustained, whether no count above failed) of one model's probes on one stream; None: none held."""
    top = best(probes)
    if top is None:
        return None
    return top.cameras, not any(not p.sustained and p.cameras > top.cameras for p in probes)


def target_for(cfg: CamerasConfig, urls: tuple[str, ...] = ()) -> Target:
    """The search's target: the model's window (from its file, as infer feeds it) and the cameras' footage."""
    from darkedge.infer.command import describe_feeding, feeding_for
    from darkedge.runtime import load_predictor

    if not cfg.model:
        raise DarkedgeError("--model: required (an export: .xml, .onnx, .engine, or a checkpoint .pt)")
    footage = None
    if not cfg.sources:
        from darkedge.bench.loopback.footage import video_files

        footage = Path(cfg.footage or Path(BUILTIN_DATA) / "clips")
        if not cfg.footage and not footage.is_dir():
            raise DarkedgeError(f"{footage}: no built-in clips (darkedge data synth), or give --footage")
        video_files(footage)  # a one-line error now, not in the cameras' server
    model = Path(cfg.model)
    predictor = load_predictor(model, cfg.backend, 1)
    feeding, hop = feeding_for(cfg.infer_config(), predictor, model)
    described = describe_feeding(predictor, feeding)
    log.info(described)
    del predictor
    return Target(cfg, cfg.name or model.name, hop, feeding.span / cfg.fps, footage, described, urls)


def bench_cameras(cfg: CamerasConfig) -> dict:
    """How many cameras this box sustains for cfg.model on cfg's stream: the result `write_report` writes."""
    began = time.monotonic()
    urls = tuple(read_urls(cfg.sources)) if cfg.sources else ()
    target = target_for(cfg, urls)
    server = RtspServer(cfg, target.footage) if cfg.protocol == "rtsp" and not cfg.sources else None
    try:
        if server is not None:
            target = server.serving(target)
        probes = search(target)
    finally:
        if server is not None:
            server.close()
    result = new_result(
        command=shlex.join(["darkedge", "bench", "cameras", *sys.argv[3:]]) if len(sys.argv) > 2 else "",
        source=f"model {Path(cfg.model).resolve()}",
        cfgs=[cfg],
        probes=[asdict(p) for p in probes],
        span_s=target.span_s,
        began=began,
        models={target.name: target.name},
        described={target.name: target.described},
    )
    return result


# ---- the report -------------------------------------------------------------------------------------------------


def new_result(command: str, source: str, cfgs: list[CamerasConfig], probes: list[dict], span_s: float,
               began: float, **extra) -> dict:  # fmt: skip
    """The report's JSON: what was probed, on what, on which box."""
    from darkedge.bench.machine import machine_info

    first = cfgs[0]
    setups = {cfg.setup: cfg.stream for cfg in cfgs}
    return {
        "schema_version": 3,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "source": source,
        "threads": first.threads,
        "max_batch": first.max_batch,
        "fps": first.fps,
        "span_s": span_s,
        "measure_s": first.measure_s,
        "setups": [s for s in setups if any(p["setup"] == s for p in probes)],
        "streams": {s: d for s, d in setups.items() if any(p["setup"] == s for p in probes)},
        "probes": probes,
        "machine": machine_info(),
        "minutes": (time.monotonic() - began) / 60,
        **extra,
    }


def write_report(result: dict, out: Path) -> list[Path]:
    """cameras.json, .md and .png in `out`."""
    from darkedge.fileio import write_json, write_text

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "cameras.json", result)
    write_text(out / "cameras.md", markdown(result))
    probes = [Probe(**p) for p in result["probes"]]
    return [out / "cameras.json", out / "cameras.md", plot(probes, result, out / "cameras.png")]


def model_names(result: dict) -> dict[str, str]:
    """{model: its label}, in the order probed (a report may name them: result["models"])."""
    labels = dict(result.get("models") or {})
    for p in result["probes"]:
        labels.setdefault(p["model"], p["model"])
    return labels


def plot(probes: list[Probe], result: dict, path: Path) -> Path:
    """Lag p99 against camera count, one panel per stream, one line per model (filled: sustained)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from darkedge.fileio import save_figure

    setups = result["setups"] or ["(nothing probed)"]
    cols = min(3, len(setups))
    rows = -(-len(setups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
    for ax, setup in zip(axes.flat, setups, strict=False):
        for i, (name, label) in enumerate(model_names(result).items()):
            points = sorted(
                (p.cameras, p.lag_p99_s * 1000, p.sustained)
                for p in probes
                if p.model == name and p.setup == setup and p.ready and math.isfinite(p.lag_p99_s)
            )
            if not points:
                continue
            color = f"C{i}"
            ax.plot([x for x, _, _ in points], [y for _, y, _ in points], color=color, label=label)
            for x, y, ok in points:
                ax.plot(x, y, "o", color=color, markerfacecolor=color if ok else "white")
        ax.axhline(result["span_s"] * 1000, color="grey", linestyle="--", linewidth=1, label="one window")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_yscale("log")
        ax.set_xlabel(f"cameras ({result['fps']:g} fps)")
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


def started(ready_s: float) -> str:
    """The 'all started' cell: seconds, 'never' (not within the ready timeout), or blank (not recorded)."""
    if math.isnan(ready_s):
        return ""
    return "never" if math.isinf(ready_s) else f"{ready_s:.0f}"


def udp(p: Probe) -> str:
    """The 'UDP datagrams/s' cell: received, dropped (blank where not recorded)."""
    if math.isnan(p.udp_in):
        return ""
    return f"{p.udp_in:.0f}, {p.udp_dropped:.0f}"


def markdown(result: dict) -> str:
    """The report: the box, the model(s), the stream(s), cameras sustained and where the time goes, every probe."""
    labels = model_names(result)
    info = result["machine"]
    threads = result["threads"] or f"{info['usable_cores']} (every usable core)"
    lines = [
        "# Cameras per box: `darkedge infer` on N cameras",
        "",
        f"Written by `{result['command']}` ({result['source']}).",
        "",
        f"Box: {info['cpu']} ({info['architecture']}), {info['usable_cores']} usable cores, load average "
        f"{info['load_average_1min']:.1f} at the end, {info['os']}, Python {info['python']}. Took "
        f"{result['minutes']:.1f} min.",
        "",
        f"infer: --threads {threads}, --max-batch {result['max_batch']}; window span {result['span_s']:.2f} s. "
        f"Sustained: lag p99 (worst camera, last 10 s of {result['measure_s']:g} s measured) under the span, and "
        "lost frames under 1 %. Decode `needed`: only the frames a window uses (MJPEG: at the JPEG scale the model "
        "needs); `all`: every frame at full size. `reader thread`: a thread per MJPEG camera instead of one shared "
        "selector thread. Loopback cameras are served from this box, on its cores.",
        "",
    ]
    for name, described in result.get("described", {}).items():
        lines += [f"Model {name}: {described.removeprefix(f'model {name}: ')}.", ""]
    if result.get("carried"):
        carried = result["carried"]
        lines += [
            f"The probes of {', '.join(carried['setups'])} are kept from an earlier run on this machine,",
            f"`{carried['command']}` ({carried['created']}); the rest are this run's.",
            "",
        ]
    for setup in result["setups"]:
        probes = [Probe(**p) for p in result["probes"] if p["setup"] == setup]
        stream = result.get("streams", {}).get(setup)
        lines += [f"## {setup}", ""] + ([f"Stream: {stream}.", ""] if stream else [])
        lines += [
            "| model | cameras sustained | lag p99 ms | lost % | windows/s | decoded | CPU infer + cameras | "
            "infer's time per s: read / decode / prepare / loop CPU, model wall |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, label in labels.items():
            mine = [p for p in probes if p.model == name]
            if not mine:
                continue
            found = capacity(mine)
            if found is None:
                lines.append(f"| {label} | 0 (none of {sorted(p.cameras for p in mine)}) | | | | | | |")
                continue
            cameras, at_least_ = found
            top = best(mine)
            lines.append(
                f"| {label} | {'>= ' if at_least_ else ''}{cameras} | {top.lag_p99_s * 1000:.0f} | "
                f"{100 * top.loss:.2f} | {top.windows_per_s:.0f} | {100 * top.decoded_share:.0f} % | "
                f"{top.cpu_infer:.2f} + {top.cpu_cameras:.2f} | {top.cpu_read:.2f} / {top.cpu_decode:.2f} / "
                f"{top.cpu_prepare:.2f} / {top.cpu_loop:.2f}, {top.model_s:.2f} |"
            )
        note = result.get("notes", {}).get(setup)
        lines += (["", note] if note else []) + [""]
    lines += [
        "`>= N`: N cameras were sustained and no count above failed (the most probed, at most max_cameras). UDP "
        "datagrams: the box's, per second of the measurement (RTSP's RTP goes over UDP unless the reader asks for "
        "TCP); dropped: by the kernel, a socket's receive buffer full because its reader had not taken the earlier "
        "ones.",
        "",
        "## Every probe",
        "",
        "| model | setup | cameras | sustained | lag p50 / p99 ms | lost % (dropped + camera-skipped) | "
        "windows skipped | slowest camera fps | CPU infer + cameras | all started, s | UDP datagrams/s in, dropped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted((Probe(**p) for p in result["probes"]), key=lambda p: (p.setup, p.model, p.cameras)):
        lines.append(
            f"| {labels[p.model]} | {p.setup} | {p.cameras} | {'yes' if p.sustained else 'no'} | "
            f"{p.lag_p50_s * 1000:.0f} / {p.lag_p99_s * 1000:.0f} | {100 * p.loss:.2f} ({p.dropped} + {p.late}) | "
            f"{p.windows_skipped} | {p.fps_in_min:.1f} | {p.cpu_infer:.2f} + {p.cpu_cameras:.2f} | "
            f"{started(p.ready_s)} | {udp(p)} |"
        )
    lines += [
        "",
        "![lag against cameras](cameras.png)",
        "",
        "Libraries: " + ", ".join(f"{n} {v}" for n, v in info["libraries"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def summary_line(result: dict) -> str:
    """One line for the command's end: cameras sustained."""
    probes = [Probe(**p) for p in result["probes"]]
    found = capacity(probes)
    if found is None:
        return f"no camera count sustained (probed {sorted(p.cameras for p in probes)})"
    cameras, more = found
    return f"{'>= ' if more else ''}{cameras} cameras sustained ({result['setups'][0]})"
