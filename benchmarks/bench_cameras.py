"""Cameras per box for the models darkedge replaces and the streams cameras send: `darkedge bench cameras`
(darkedge.bench.cameras: the probes, the search, the report) for every model and setup below, in one report.

    python benchmarks/bench_cameras.py                    # the exports of runs/latest (trained and quantized)
    python benchmarks/bench_cameras.py --run runs/<time>
    python benchmarks/bench_cameras.py --random           # random-weight models at the small preset (smoke run)
    python benchmarks/bench_cameras.py --only rtsp        # the setups whose name holds "rtsp"
    python benchmarks/bench_cameras.py --only rtsp --keep benchmarks/results/cameras.json   # keep the others
    python benchmarks/bench_cameras.py --repro A.json B.json ...   # the runs' sustained counts side by side

Writes benchmarks/results/cameras.{md,json,png}. The models: the INT8 student, the FP32 student,
enhance-then-classify (the FP32 teacher: Zero-DCE + classifier) and two-stream FP32, as OpenVINO IRs.

Setups (SETUPS): darkedge.bench.cameras.CamerasConfig settings: the cameras' protocol and frame size, the hop,
how infer decodes and reads. MJPEG over HTTP (JPEG q80 of the built-in dark clips with sensor noise, from one
server process) and RTSP (GStreamer's server streaming the same footage as H.264 at 512 kbps, a loop encoded once:
it decodes as dearly as real dark footage encoded the same way, benchmarks/results/streams.md; every camera
receives the one stream, as several viewers of one camera do), read by OpenCV's FFmpeg reader or PyAV's
(`decoder pyav`: the frames windows use converted from YUV straight to the model's size). `needed` decoding is
darkedge's (only the frames a window uses; an MJPEG frame at the JPEG scale the model needs), `all` decodes every
frame at full size, as darkedge did before. `reader thread` reads each MJPEG camera on a thread of its own, as
darkedge did before one shared thread and a selector read them all. `hop` default is what `darkedge infer` picks
(about one window a second per camera); 1 is a window at every frame, where the model's cost decides.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from darkedge.bench.cameras import (
    CamerasConfig,
    Probe,
    RtspServer,
    capacity,
    markdown,
    new_result,
    search,
    target_for,
    write_report,
)
from darkedge.bench.loopback.footage import video_files
from darkedge.bench.loopback.rtsp import available
from darkedge.errors import DarkedgeError
from darkedge.fileio import write_text
from darkedge.logs import setup_logging
from darkedge.names import BUILTIN_DATA

HERE = Path(__file__).parent
RESULTS = HERE / "results"
MODELS = {
    "student_int8": "INT8 student",
    "student_fp32": "FP32 student",
    "teacher_fp32": "enhance-then-classify FP32",
    "two_stream_fp32": "two-stream FP32",
}
ALL_MODELS = tuple(MODELS)
PAIR = ("student_int8", "two_stream_fp32")
SETUPS = (  # (CamerasConfig settings, the models probed)
    ({"protocol": "mjpeg"}, ALL_MODELS),
    ({"protocol": "mjpeg", "mjpeg_reader": "thread"}, PAIR),
    ({"protocol": "mjpeg", "mjpeg_reader": "thread", "decode_all": True}, PAIR),
    ({"protocol": "rtsp", "size": "320x240"}, PAIR),
    ({"protocol": "rtsp", "size": "320x240", "decoder": "pyav"}, PAIR),
    ({"protocol": "rtsp", "size": "640x360"}, PAIR),
    ({"protocol": "rtsp", "size": "640x360", "decoder": "pyav"}, PAIR),
    ({"protocol": "mjpeg", "hop": 1}, PAIR),
)


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


def ratio_line(found: dict[str, tuple[int, bool]]) -> str:
    """INT8 student against two-stream FP32 on one setup, against the >= 5x target."""
    if "student_int8" not in found or "two_stream_fp32" not in found:
        return ""
    (int8, int8_more), (two, two_more) = found["student_int8"], found["two_stream_fp32"]
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


def notes(probes: list[dict]) -> dict[str, str]:
    """{setup: its ratio line}."""
    lines = {}
    for setup in dict.fromkeys(p["setup"] for p in probes):
        mine = [Probe(**p) for p in probes if p["setup"] == setup]
        found = {m: capacity([p for p in mine if p.model == m]) for m in MODELS}
        line = ratio_line({m: f for m, f in found.items() if f is not None})
        if line:
            lines[setup] = line
    return lines


REPRO_TOLERANCE = 0.15  # a rerun reproduces a count when it is within 15 % of it


def selected(only: str, models: str, common: dict | None = None) -> list[tuple[CamerasConfig, list[str]]]:
    """The SETUPS a run with these --only and --models measures (with the `common` settings), each with the models
    it probes there."""
    texts = [t for t in only.split(",") if t] or [""]
    wanted = {n.strip() for n in models.split(",") if n.strip()}
    chosen = []
    for settings, setup_models in SETUPS:
        cfg = CamerasConfig(**(common or {}), **settings)
        if any(cfg.setup == t[1:] if t.startswith("=") else t in cfg.setup for t in texts):
            chosen.append((cfg, [name for name in setup_models if name in wanted]))
    return chosen


def repro(results: dict[str, dict]) -> list[dict]:
    """Each (setup, model)'s sustained count in each of several cameras.json `results` ({label: result}): only what
    the run itself measured (its command's --only and --models), not the probes it carried over (--keep);
    `spread` = largest / smallest - 1."""
    found: dict[tuple[str, str], dict[str, tuple[int, bool] | None]] = {}
    for label, result in results.items():
        args = build_parser().parse_args(shlex.split(result["command"])[2:])
        for cfg, models in selected(args.only, args.models):
            for model in models:
                mine = [p for p in result["probes"] if p["setup"] == cfg.setup and p["model"] == model]
                if mine:
                    found.setdefault((cfg.setup, model), {})[label] = capacity([Probe(**p) for p in mine])
    rows = []
    for (setup, model), runs in found.items():
        counts = [c[0] for c in runs.values() if c is not None]
        spread = max(counts) / min(counts) - 1 if len(counts) == len(runs) and len(counts) > 1 else None
        rows.append({"setup": setup, "model": model, "runs": runs, "spread": spread})
    return rows


def repro_markdown(results: dict[str, dict], rows: list[dict]) -> str:
    labels = list(results)
    lines = [
        "# Cameras per box: does a rerun reproduce each sustained count?",
        "",
        "Each run's sustained count per stream and model (`>=`: no count above it failed, so the limit lies "
        "higher, and the spread takes it as found; `-`: not measured by that run itself, whose report may carry it "
        "over from an earlier one). Spread: the largest count over the smallest, minus 1; reproduced when at most "
        f"{REPRO_TOLERANCE:.0%}.",
        "",
    ]
    for label, result in results.items():
        lines.append(f"- {label}: `{result['command']}` ({result['created']}, {result['minutes']:.0f} min)")
    box = next(iter(results.values()))["machine"]
    lines += ["", f"Written by `{shlex.join(['python', 'benchmarks/bench_cameras.py', *sys.argv[1:]])}`. Box: "
              f"{box['cpu']} ({box['architecture']}), {box['usable_cores']} usable cores, Python {box['python']}."]  # fmt: skip
    lines += ["", "| stream | model | " + " | ".join(labels) + " | spread | within 15 % |",
              "|---|---|" + "---:|" * len(labels) + "---:|---|"]  # fmt: skip
    for row in rows:
        cells = []
        for label in labels:
            if label not in row["runs"]:
                cells.append("-")
            elif row["runs"][label] is None:
                cells.append("none")
            else:
                count, none_failed_above = row["runs"][label]
                cells.append(f"{'>= ' if none_failed_above else ''}{count}")
        spread = row["spread"]
        verdict = "" if spread is None else "yes" if spread <= REPRO_TOLERANCE else "no"
        lines.append(f"| {row['setup']} | {MODELS[row['model']]} | " + " | ".join(cells)
                     + f" | {'' if spread is None else f'{spread:.0%}'} | {verdict} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/latest"))
    parser.add_argument("--random", action="store_true", help="random-weight preset models instead of a run")
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--only",
        default="",
        help="only the setups whose name holds one of these (comma-separated; =NAME: that name exactly)",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="of each setup's, only these")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--start", type=int, default=16, help="cameras in the first probe")
    parser.add_argument("--max-cameras", type=int, default=1024)
    parser.add_argument(
        "--probes", type=int, default=6, help="camera counts probed per model and setup, at most"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after every camera has a window")
    parser.add_argument("--measure", type=float, default=10.0, help="seconds measured (at least 10)")
    parser.add_argument(
        "--footage", default=str(Path(BUILTIN_DATA) / "clips"), help="what the cameras stream"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--keep", type=Path, default=None,
        help="an earlier cameras.json: its probes of the setups (still in SETUPS) this run does not measure are kept",
    )  # fmt: skip
    parser.add_argument(
        "--repro", type=Path, nargs="+", default=None,
        help="cameras.json files of runs of the same setups: OUT/cameras_repro.md, their counts side by side",
    )  # fmt: skip
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.repro:
        results = {}
        for i, path in enumerate(args.repro):  # labelled by file name; a name given twice, by its place too
            label = path.stem if path.stem not in results else f"{path.stem} ({i + 1})"
            results[label] = json.loads(path.read_text())
        text = repro_markdown(results, repro(results))
        write_text(args.out / "cameras_repro.md", text)
        print(text)
        return
    setup_logging()
    began = time.monotonic()
    video_files(args.footage)
    common = {"threads": args.threads, "max_batch": args.max_batch, "start": args.start, "footage": args.footage,
              "max_cameras": args.max_cameras, "probes": args.probes, "warmup_s": args.warmup,
              "measure_s": args.measure}  # fmt: skip
    every = [CamerasConfig(**common, **settings) for settings, _ in SETUPS]
    chosen = selected(args.only, args.models, common)
    if any(cfg.protocol == "rtsp" for cfg, _ in chosen) and not available():
        print(
            "no GStreamer RTSP server here (see darkedge/bench/loopback/rtsp.py): the RTSP setups are skipped"
        )
        chosen = [(cfg, models) for cfg, models in chosen if cfg.protocol != "rtsp"]
    planned = {(cfg.setup, name) for cfg, models in chosen for name in models}
    names = {cfg.setup for cfg in every}
    carried, carried_from = [], None
    if args.keep is not None:
        earlier = json.loads(args.keep.read_text())
        carried = [
            p for p in earlier["probes"] if p["setup"] in names and (p["setup"], p["model"]) not in planned
        ]
        kept = sorted({p["setup"] for p in carried})
        carried_from = {"command": earlier["command"], "created": earlier["created"], "setups": kept}
    command = shlex.join(["python", "benchmarks/bench_cameras.py", *sys.argv[1:]])
    probes: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        models, _, frame_step, source = models_and_feeding(args, Path(tmp))
        for cfg, setup_models in chosen:
            rtsp = None
            try:
                for name in setup_models:
                    print(f"{MODELS[name]}, {cfg.setup}:", flush=True)
                    mine = CamerasConfig(**{**asdict(cfg), "model": str(models[name]), "name": name,
                                            "frame_step": frame_step})  # fmt: skip
                    target = target_for(mine)
                    if cfg.protocol == "rtsp":  # one stream for the setup's models, encoded once
                        rtsp = rtsp or RtspServer(cfg, target.footage)
                        target = rtsp.serving(target)
                    probes += [asdict(p) for p in search(target)]
                    # the report so far, after every search: a long run stopped part-way keeps what it measured
                    result = new_result(command, source, every, carried + probes, target.span_s, began,
                                        models=MODELS, carried=carried_from, notes=notes(carried + probes))  # fmt: skip
                    write_report(result, args.out)
            finally:  # the server and its rendered loop go, however the searches end
                if rtsp is not None:
                    rtsp.close()
    print(markdown(result))


if __name__ == "__main__":
    try:
        main()
    except DarkedgeError as e:
        sys.exit(f"bench_cameras: {e}")
