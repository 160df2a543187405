"""How long OpenCV takes to open an RTSP/H.264 camera and read its first frame, by FFmpeg's probe time.

    python benchmarks/bench_rtsp_open.py            # writes benchmarks/results/rtsp_open.{md,json}

OpenCV's FFmpeg backend opens one stream at a time (a process-wide lock), so a box's cameras start, and
reconnect, one open after another: the open time times the camera count. One loopback camera
(darkedge.bench.loopback.rtsp: 320 x 240, 15 fps, a key frame every 2 s), opened --repeats times for each
analyzeduration (FFmpeg's default, then what `darkedge infer --set rtsp_probe_s=S` sets), each open timed to its
first frame; the frame's size checked against what the camera sends.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import cv2

from darkedge.bench.loopback.rtsp import RtspCamera, available
from darkedge.bench.machine import machine_info
from darkedge.fileio import write_json, write_text
from darkedge.infer.sources import FFMPEG_OPTIONS, rtsp_probe

RESULTS = Path(__file__).parent / "results"
PROBES_S = (0.0, 0.5, 0.2)  # 0: FFmpeg's default


def time_opens(url: str, probe_s: float, repeats: int) -> tuple[list[float], tuple[int, ...] | None]:
    """Seconds from VideoCapture() to the first frame, `repeats` times, and the first frame's shape; FFmpeg's
    options set as `darkedge infer` sets them (darkedge.infer.sources.rtsp_probe)."""
    seconds, shape = [], None
    with rtsp_probe([url], probe_s):
        for _ in range(repeats):
            began = time.monotonic()
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
            ok, image = capture.read()
            seconds.append(time.monotonic() - began)
            capture.release()
            shape = image.shape if ok else None
    return seconds, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not available():
        print("no GStreamer RTSP server here (see darkedge.bench.loopback.rtsp): nothing measured")
        return
    if FFMPEG_OPTIONS in os.environ:
        raise SystemExit(f"{FFMPEG_OPTIONS} is set in the environment: unset it to measure FFmpeg's defaults")
    camera = RtspCamera(mounts=1, size="320x240", fps=15).start()
    rows = []
    try:
        for probe_s in PROBES_S:
            seconds, shape = time_opens(camera.urls[0], probe_s, args.repeats)
            rows.append({"rtsp_probe_s": probe_s, "seconds": seconds, "first_frame_shape": shape})
            print(f"rtsp_probe_s {probe_s:g}: median {statistics.median(seconds):.2f} s, first frame {shape}")
    finally:
        camera.stop()
    result = {
        "command": shlex.join(["python", "benchmarks/bench_rtsp_open.py", *sys.argv[1:]]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
        "machine": machine_info(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "rtsp_open.json", result)
    lines = [
        "# Opening an RTSP/H.264 camera: seconds to the first frame, by FFmpeg's probe time",
        "",
        f"Written by `{result['command']}` on {result['created']}. One loopback camera (320 x 240, 15 fps, a key",
        f"frame every 2 s), opened {args.repeats} times per row through OpenCV's FFmpeg backend, which opens one stream",
        "at a time: a box's cameras start, and reconnect, one open after another.",
        "",
        "| rtsp_probe_s (analyzeduration) | median s | min s | max s | first frame |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        label = "FFmpeg's default" if row["rtsp_probe_s"] == 0 else f"{row['rtsp_probe_s']:g}"
        s = row["seconds"]
        shape = "x".join(str(d) for d in row["first_frame_shape"]) if row["first_frame_shape"] else "none"
        lines.append(f"| {label} | {statistics.median(s):.2f} | {min(s):.2f} | {max(s):.2f} | {shape} |")
    info = result["machine"]
    lines += [
        "",
        f"Machine: {info['cpu']}, {info['usable_cores']} usable cores; Python {info['python']}; "
        + ", ".join(f"{n} {v}" for n, v in info["libraries"].items()),
        "",
    ]
    write_text(args.out / "rtsp_open.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
