"""What one RTSP camera costs to read, OpenCV's reader against PyAV's (InferConfig.decoder "ffmpeg" / "pyav"), on
night-footage streams (darkedge.bench.loopback.rtsp: the built-in dark clips with sensor noise, or real dark clips).

Per stream setting, one loopback camera, read by darkedge's own source (LiveSource) as `darkedge infer` reads it:
every frame received and decoded, the frames the windows use (every 4th, the small preset's frame step) converted
to the model's resize height (54 px for the small preset). CPU seconds of this process (receiving, decoding,
converting) over --seconds of stream, per frame, in milliseconds; readers alternate, best of --repeats. The
cameras-per-box figure follows from it: at 15 fps, a core reads 1000 / (15 x ms) such cameras before any model runs.

    python benchmarks/bench_readers.py      # writes benchmarks/results/readers.{md,json}
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")  # one decoder thread, as PyAV's reader

from darkedge.bench.loopback.footage import NOISE  # noqa: E402
from darkedge.bench.loopback.rtsp import RtspCamera, available  # noqa: E402
from darkedge.bench.machine import machine_info, report_footer  # noqa: E402
from darkedge.config import TrainConfig  # noqa: E402
from darkedge.fileio import write_json, write_text  # noqa: E402
from darkedge.infer.sources import LiveSource  # noqa: E402
from darkedge.infer.window import prepare_frame  # noqa: E402
from darkedge.names import BUILTIN_DATA  # noqa: E402

RESULTS = Path(__file__).parent / "results"
SETTINGS = (("320x240", 512), ("640x360", 512), ("640x360", 1024))
STEP = 4  # the windows use every 4th frame (the small preset's frame step)


def read_cost(url: str, reader: str, seconds: float) -> tuple[float, int]:
    """(ms of CPU per frame, frames) reading `url` with `reader` for `seconds`, after the first frame."""
    feeding = TrainConfig().feeding("student")
    pyav = feeding.resize if reader == "pyav" else False
    source = LiveSource(url, "cam", required=True, pyav_height=pyav)
    stop = threading.Event()
    frames, cpu_start, wall_start = 0, None, None
    for frame in source.frames(stop, wanted=lambda index, start: (index - start) % STEP == 0):
        if frame.image is not None:
            prepare_frame(frame.image, feeding)  # what the camera does next with it
        if cpu_start is None:  # from the first frame on: opening is not reading
            cpu_start, wall_start = time.process_time(), time.monotonic()
            continue
        frames += 1
        if time.monotonic() - wall_start >= seconds:
            stop.set()
    return (time.process_time() - cpu_start) / max(frames, 1) * 1000, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--footage", type=Path, default=Path(BUILTIN_DATA) / "clips")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not available():
        raise SystemExit("bench_readers: no GStreamer RTSP server here (see darkedge.bench.loopback.rtsp)")
    rows = []
    for size, kbps in SETTINGS:
        with RtspCamera(mounts=1, size=size, fps=15, footage=args.footage, bitrate=kbps) as camera:
            best: dict[str, float] = {}
            for _ in range(args.repeats):
                for reader in ("ffmpeg", "pyav"):
                    ms, frames = read_cost(camera.urls[0], reader, args.seconds)
                    best[reader] = min(best.get(reader, float("inf")), ms)
                    print(size, kbps, reader, f"{ms:.3f} ms/frame over {frames} frames", flush=True)
        rows.append({"size": size, "kbps": kbps, "ms": best, "ratio": best["ffmpeg"] / best["pyav"]})
    machine = machine_info()
    write_json(args.results / "readers.json", {"schema": 1, "machine": machine, "rows": rows})
    lines = [
        "# One RTSP camera's reading cost: OpenCV's reader against PyAV's",
        "",
        f"Footage: {args.footage} with sensor noise of {NOISE:g} levels, H.264 baseline at the cap, 15 fps, key frame "
        f"every 2 s (darkedge.bench.loopback.rtsp). Read by LiveSource as `darkedge infer` reads a camera: every frame "
        f"decoded, every {STEP}th converted to the model's size and prepared; CPU of the process per frame, best of "
        f"{args.repeats} alternating runs of {args.seconds:g} s.",
        "",
        "| stream | OpenCV ms / frame | PyAV ms / frame | OpenCV / PyAV | cameras a core reads (OpenCV / PyAV) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        ffmpeg, pyav = r["ms"]["ffmpeg"], r["ms"]["pyav"]
        lines.append(
            f"| {r['size']} {r['kbps']} kbps | {ffmpeg:.3f} | {pyav:.3f} | {r['ratio']:.2f} | "
            f"{1000 / (15 * ffmpeg):.0f} / {1000 / (15 * pyav):.0f} |"
        )
    lines += report_footer("python benchmarks/bench_readers.py", machine)
    write_text(args.results / "readers.md", "\n".join(lines) + "\n")
    print((args.results / "readers.md").read_text())


if __name__ == "__main__":
    main()
