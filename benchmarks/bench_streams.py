"""How dear the loopback cameras' streams are to decode, beside real dark footage encoded the same way: the check that
a cameras-per-box figure was measured on a stream a night camera would send.

For each size (320 x 240, 640 x 360), bitrate cap (256 / 512 / 1024 kbps) and codec (H.264 baseline; H.265 where
x265 is installed), this encodes, exactly as darkedge.bench.loopback.rtsp's cameras do (footage.render_raw then `encode`:
a key frame every 2 s, constant bitrate, no B-frames):

  - served: what the loopback cameras stream by default, the built-in dark clips (`darkedge data synth`) with
    sensor noise added at the stream's size (`--noise`, darkedge.bench.loopback.footage.NOISE by default);
  - served, no noise: the built-in clips as they are (upscaled from 128 x 96: smooth, cheap to decode);
  - real: real dark footage (the ARID subset `benchmarks/arid_subset.py` rebuilds in data/arid6, never
    committed), with no noise added; skipped with one line where absent;
  - pattern: the live test pattern the RTSP tests use (a ball on a flat dark background).

and decodes each loop with FFmpeg's decoder through OpenCV on one thread (OPENCV_FFMPEG_CAPTURE_OPTIONS=threads;1),
`grab()` only (decoding, no colour conversion), best of --repeats passes: milliseconds of a core per frame. The
ratio served / real is what the issue asks to be within 1.5x; the bitrate each encoder actually produced is shown
(a noisy stream fills its cap; an easy one does not).

    python benchmarks/bench_streams.py            # writes benchmarks/results/streams.{md,json}
    python benchmarks/bench_streams.py --sizes 320x240 --bitrates 512 --codecs h264   # one setting
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")  # before cv2 opens anything: one thread

import cv2  # noqa: E402

from darkedge.bench.loopback.footage import NOISE, render_raw  # noqa: E402
from darkedge.bench.loopback.rtsp import (  # noqa: E402
    BITRATES,
    CODECS,
    SYSTEM_PYTHON,
    available,
    encode_file,
    encoder,
    loop_frames,
    pattern,
)
from darkedge.bench.machine import machine_info, report_footer  # noqa: E402
from darkedge.fileio import write_json, write_text  # noqa: E402
from darkedge.names import BUILTIN_DATA  # noqa: E402

RESULTS = Path(__file__).parent / "results"
REAL = Path("data/arid6/clips")  # benchmarks/arid_subset.py's layout
SIZES = ("320x240", "640x360")
FPS = 15
SECONDS = 10  # each loop: 150 frames, 5 key-frame intervals


def decode_ms(stream: Path, repeats: int) -> tuple[float, int]:
    """(ms of one core per frame, frames): FFmpeg decoding `stream`, one thread, best of `repeats` passes."""
    best, frames = float("inf"), 0
    for _ in range(repeats):
        capture = cv2.VideoCapture(str(stream), cv2.CAP_FFMPEG)
        frames, start = 0, time.process_time()  # every thread of the process: FFmpeg may decode on its own
        while capture.grab():
            frames += 1
        best = min(best, (time.process_time() - start) / max(frames, 1) * 1000)
        capture.release()
    return best, frames


def pattern_stream(folder: Path, size: str, codec: str, kbps: int) -> Path:
    """The test pattern's first SECONDS, encoded as the live server encodes it."""
    width, height = (int(v) for v in size.split("x"))
    out = folder / f"pattern.{codec}"
    launch = f"{pattern(width, height, FPS, SECONDS * FPS)} ! {encoder(codec, kbps, FPS)} ! filesink location={out}"
    script = (
        "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None);"
        f"p = Gst.parse_launch({launch!r}); p.set_state(Gst.State.PLAYING);"
        "p.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR);"
        "p.set_state(Gst.State.NULL)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run([SYSTEM_PYTHON, "-c", script], check=True, env=env)
    return out


def measure(
    sources: dict[str, tuple[Path, float] | None], size: str, codec: str, kbps: int, repeats: int
) -> dict:
    """Every source encoded at one setting and decoded: {source: {ms, kbps}}."""
    width, height = (int(v) for v in size.split("x"))
    row: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="streams_") as tmp:
        folder = Path(tmp)
        for name, source in sources.items():
            if name == "pattern":
                stream = pattern_stream(folder, size, codec, kbps)
            else:
                footage, noise = source
                raw = folder / f"{name}.yuv"
                render_raw(footage, raw, width, height, FPS, loop_frames(SECONDS, FPS), noise)
                stream = encode_file(raw, folder / f"{name}.{codec}", size, FPS, codec, kbps)
                raw.unlink()
            ms, frames = decode_ms(stream, repeats)
            row[name] = {
                "ms": round(ms, 4),
                "kbps": round(stream.stat().st_size * 8 / 1000 / (frames / FPS), 1),
            }
    return row


def markdown(results: list[dict], noise: float, real: Path | None, machine: dict) -> str:
    names = list(results[0]["sources"])
    lines = [
        "# The loopback cameras' streams against real dark footage: decode cost per frame",
        "",
        f"Each source is {SECONDS} s at {FPS} fps, scaled to the size, encoded as darkedge.bench.loopback.rtsp's "
        "cameras encode (constant bitrate at the cap, a key frame every 2 s, no B-frames; H.264 baseline), then "
        "decoded by FFmpeg through OpenCV on one thread (`grab()`: decoding only), best of the passes. ms: "
        "milliseconds of a core per frame; kbps: what the encoder produced against the cap. served: the built-in "
        f"dark clips with sensor noise of {noise:g} levels added at the stream's size (the RTSP cameras' default); "
        f"real: {'real dark ARID clips (' + str(real) + ')' if real else 'no real footage here (data/arid6 absent)'}.",
        "",
        "| size | codec | cap kbps | " + " | ".join(f"{n} ms (kbps)" for n in names) + " | served / real |",
        "|---|---|---:|" + "---:|" * (len(names) + 1),
    ]
    for r in results:
        cells = [f"{r['sources'][n]['ms']:.3f} ({r['sources'][n]['kbps']:.0f})" for n in names]
        ratio = ""
        if "real" in r["sources"]:
            ratio = f"{r['sources']['served']['ms'] / r['sources']['real']['ms']:.2f}"
        lines.append(f"| {r['size']} | {r['codec']} | {r['kbps']} | " + " | ".join(cells) + f" | {ratio} |")
    if "real" in names:
        ratios = [r["sources"]["served"]["ms"] / r["sources"]["real"]["ms"] for r in results]
        pattern = [r["sources"]["real"]["ms"] / r["sources"]["pattern"]["ms"] for r in results]
        lines += [
            "",
            f"served / real: {min(ratios):.2f} to {max(ratios):.2f} (mean {statistics.mean(ratios):.2f}); real / "
            f"pattern: {min(pattern):.1f} to {max(pattern):.1f}x (the test pattern is that much cheaper to decode).",
        ]
    return "\n".join(lines + report_footer("python benchmarks/bench_streams.py", machine)) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--bitrates", type=int, nargs="+", default=list(BITRATES))
    parser.add_argument("--codecs", nargs="+", default=list(CODECS), choices=list(CODECS))
    parser.add_argument(
        "--footage", type=Path, default=Path(BUILTIN_DATA) / "clips", help="the served footage"
    )
    parser.add_argument("--real", type=Path, default=REAL, help="real dark footage to compare with")
    parser.add_argument("--noise", type=float, default=NOISE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not available():
        raise SystemExit("bench_streams: no GStreamer here (see darkedge.bench.loopback.rtsp)")
    if not args.footage.is_dir():
        raise SystemExit(f"{args.footage}: no footage (make the built-in data: darkedge data synth)")
    sources: dict = {"served": (args.footage, args.noise), "served_no_noise": (args.footage, 0.0)}
    real = args.real if args.real.is_dir() else None
    if real is None:
        print(f"{args.real}: absent (benchmarks/arid_subset.py rebuilds it); measuring without real footage")
    else:
        sources["real"] = (real, 0.0)
    sources["pattern"] = None
    results = []
    for size in args.sizes:
        for codec in args.codecs:
            for kbps in args.bitrates:
                row = measure(sources, size, codec, kbps, args.repeats)
                results.append({"size": size, "codec": codec, "kbps": kbps, "sources": row})
                print(size, codec, kbps, row, flush=True)
    machine = machine_info()
    write_json(args.results / "streams.json", {"schema": 1, "machine": machine, "noise": args.noise,
                                                "real": str(real) if real else None, "results": results})  # fmt: skip
    write_text(args.results / "streams.md", markdown(results, args.noise, real, machine))
    print((args.results / "streams.md").read_text())


if __name__ == "__main__":
    main()
