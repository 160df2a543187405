"""The `darkedge` command line: parse options, call the function that does the work, print the result.

Heavy imports (torch, nncf, openvino) happen inside each command so that `darkedge --help` is instant; the
choices the options offer come from darkedge.names, which imports nothing.
"""

from __future__ import annotations

import signal
import sys

import click

from darkedge import __version__
from darkedge.config import RUN_SETTINGS
from darkedge.errors import DarkedgeError
from darkedge.fileio import cleanup_on_interrupt, interrupt_in, interruption, quiet_sigchld
from darkedge.logs import setup_logging
from darkedge.names import (
    BACKENDS,
    BUILTIN_DATA,
    CALIB_DIR,
    DEFAULT_RUN,
    ENHANCE_BACKENDS,
    EXPORT_MODELS,
    FORMATS,
    PRECISIONS,
    RUNS_DIR,
    SPLITS,
    STAGES,
    TRAINABLE_ENHANCERS,
)


class _Group(click.Group):
    """A click group that turns DarkedgeError into a one-line message and a non-zero exit, no traceback, and
    Ctrl-C or SIGTERM into one line, exit 130 or 143, with no temporary file left behind."""

    def invoke(self, ctx: click.Context):
        try:
            with cleanup_on_interrupt():
                return super().invoke(ctx)
        except DarkedgeError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt as e:
            self._interrupted(e)
        except Exception as e:
            # raised while an interruption unwound (a DataLoader worker the same signal ended): the interruption
            cause = interrupt_in(e)
            if cause is None:
                raise
            self._interrupted(cause)

    @staticmethod
    def _interrupted(e: KeyboardInterrupt) -> None:
        name, code = interruption(e)
        click.echo(f"interrupted by {name}", err=True)
        # DataLoader workers the signal also reached: their exit is expected, not an error to raise (torch's
        # SIGCHLD handler would, while the iterator shuts down)
        quiet_sigchld()
        sys.exit(code)


def _video_root_option(command):
    """--video-root, for every command that takes a data set or a list."""
    return click.option(
        "--video-root",
        default=None,
        type=click.Path(file_okay=False, path_type=str),
        help="Folder the list's videos are under, searched before the usual places (for any other arrangement).",
    )(command)


# DataLoader workers, on every command that trains or evaluates on clips (None: darkedge.data.loader chooses)
WORKERS = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="DataLoader worker processes (default: chosen from the machine and device).",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="darkedge")
@click.option("-v", "--verbose", is_flag=True, help="Also print debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors (progress bars stay).")
def main(verbose: bool, quiet: bool) -> None:
    """Recognise actions in dark video with one INT8 network on raw frames."""
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet exclude each other")
    setup_logging(verbose=verbose, quiet=quiet)


class _SettingsHelp:
    """A command whose settings are a dataclass's fields (`settings`, "module:Class"): its options default to None
    so that the dataclass alone decides, `--set KEY=VALUE` and `--config FILE` reach every field, and its help ends
    with the fields and their defaults (read from the dataclass when the help is shown)."""

    def __init__(self, *args, settings: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from darkedge.settings import field_types, load_class, setting_of

        cls = load_class(self.settings)
        defaults = cls()
        rows = [(name, repr(setting_of(defaults, name))) for name in field_types(cls)]
        with formatter.section(f"Settings ({cls.__name__}; --set KEY=VALUE, defaults shown)"):
            formatter.write_dl(rows)
        super().format_epilog(ctx, formatter)


class SettingsCommand(_SettingsHelp, click.Command):
    """A command with settings (see _SettingsHelp)."""


class SettingsGroup(_SettingsHelp, click.Group):
    """A group that is also a command with settings (`darkedge bench`, and `darkedge bench cameras` under it)."""


def settings_options(command):
    """--set and --config, for a SettingsCommand."""
    command = click.option(
        "--config",
        "config_file",
        default=None,
        type=click.Path(dir_okay=False, path_type=str),
        help="JSON file of settings (the fields listed below): over the defaults, under the flags and --set.",
    )(command)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any setting listed below, e.g. --set lr=1e-3 (repeatable).",
    )(command)


def _settings(
    path: str, flags: dict, sets: tuple[str, ...], config_file: str | None, section: str | None = None
):
    """The command's settings dataclass (`path`, "module:Class") from its defaults, the --config file, --set and
    the flags (None: not given)."""
    from darkedge.settings import build, load_class

    return build(load_class(path), flags, sets, config_file, section)


@main.group(cls=_Group)
def data() -> None:
    """Make, inspect and check data sets."""


@data.command("synth", cls=SettingsCommand, settings="darkedge.data.synth:SynthConfig")
@click.option("--out", default=BUILTIN_DATA, show_default=True, type=click.Path(path_type=str))
@click.option("--seed", default=None, type=int)
@click.option("--clips-per-class", default=None, type=click.IntRange(min=1))
@click.option("--frames", default=None, type=click.IntRange(min=1), help="Frames per clip.")
@click.option("--size", default=None, help="Frame size WIDTHxHEIGHT.")
@click.option("--fps", default=None, type=click.FloatRange(min=0, min_open=True))
@click.option("--scenes", default=None, type=click.IntRange(min=2), help="Rooms in all.")
@click.option("--test-scenes", default=None, type=click.IntRange(min=1), help="Rooms for test.")
@click.option(
    "--darkness", default=None, type=click.FloatRange(min=0), help="0 bright, 1 ARID-like, 2 darker."
)
@click.option(
    "--bright", is_flag=True, default=None, help="Also write each clip before darkening under OUT/bright/."
)
@click.option(
    "--force", is_flag=True, help="Write into a non-synth, non-empty folder (replaces clips/, bright/)."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@settings_options
def data_synth(out: str, size: str, force: bool, workers: int, config_file, sets, **flags) -> None:
    """Generate the built-in synthetic dark-action data set (ARID layout and lists)."""
    from darkedge.data.synth import parse_size, read_stats, synthesize

    if size is not None:
        flags["width"], flags["height"] = parse_size(size)
    cfg = _settings("darkedge.data.synth:SynthConfig", flags, sets, config_file)
    path = synthesize(cfg, out, force=force, workers=workers)
    stats = read_stats(path)
    clips = stats["clips"]
    click.echo(
        f"wrote {clips['train'] + clips['test']} clips ({clips['train']} train, {clips['test']} test, "
        f"test scenes {stats['test_scenes']}) to {path} in {stats['seconds']:.1f} s; "
        f"raw mean {stats['raw_mean']}, std {stats['raw_std']}"
    )


@data.command("check")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--split", type=click.Choice(SPLITS), default=None)
@click.option("--fold", type=click.IntRange(min=0), default=None, help="Split number (ARID v1.5: 0, 1).")
@click.option(
    "--frames", "min_frames", type=click.IntRange(min=1), default=None, help="Report clips shorter than this."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Decoding processes [default: every usable core].",
)
@click.option(
    "--unlabeled",
    is_flag=True,
    default=None,
    help="PATH is unlabelled footage (a folder of videos, a list or a video), as `train --unlabeled` takes.",
)
@_video_root_option
def data_check(path: str, **options) -> None:
    """Decode every clip of a data set (its root, list folder or one list), or of unlabelled footage; exit
    non-zero if any is unreadable."""
    from darkedge.data.check import check_dataset, format_report

    report = check_dataset(path, **{k: v for k, v in options.items() if v is not None})
    click.echo(format_report(report))
    if not report.ok:
        raise click.ClickException(
            f"{path}: {len(report.unreadable)} of {report.num_clips} clips are unreadable"
        )


@main.group(cls=_Group)
def enhance() -> None:
    """Train and apply low-light enhancers (Zero-DCE, Zero-DCE++, gamma correction)."""


@enhance.command("train", cls=SettingsCommand, settings="darkedge.enhance.train:EnhancerJob")
@click.option("--data", default=None, help="Data-set folder or list file.")
@click.option("--split", type=click.Choice(SPLITS), default=None)
@click.option("--model", type=click.Choice(TRAINABLE_ENHANCERS), default=None, help="enhancer.name")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="enhancer.steps")
@click.option("--out", default=None, help="Checkpoint; history goes to OUT without .pt/.")
@_video_root_option
@settings_options
def enhance_train(config_file, sets, model, steps, **flags) -> None:
    """Train an enhancer on a data set's own dark frames (zero-reference, no labels), with the recipe `darkedge
    train` uses (its enhancer.* settings)."""
    from darkedge.enhance.train import train_from_data

    flags = {**flags, "enhancer.name": model, "enhancer.steps": steps}
    cfg = _settings("darkedge.enhance.train:EnhancerJob", flags, sets, config_file)
    m = train_from_data(cfg)
    click.echo(
        f"{cfg.out}: loss {m['loss_first']:.4f} -> {m['loss_last']:.4f}, mean brightness "
        f"{m['brightness_raw']:.3f} -> {m['brightness_enhanced']:.3f} ({m['frames']} frames, "
        f"{m['clips_skipped']} clips skipped, {m['seconds']:.0f} s)"
    )


@enhance.command("apply")
@click.argument("source")
@click.option(
    "--enhancer",
    "enhancer_path",
    default=None,
    help=f"Enhancer checkpoint or public Zero-DCE(++) .pth [default: {DEFAULT_RUN}/enhancer.pt].",
)
@click.option("--gamma", type=float, default=None, help="Use gamma correction instead (DarkLight: 1.8).")
@click.option("--out", default=None, help="Output file [default: SOURCE_enhanced.<ext> beside SOURCE].")
@click.option("--side-by-side", is_flag=True, help="Write raw | enhanced next to each other.")
@click.option(
    "--backend",
    type=click.Choice(ENHANCE_BACKENDS),
    default=None,
    help="Runtime the enhancer runs on, converted in memory [default: openvino; torch for one image].",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Inference threads [default: the runtime's]."
)
def enhance_apply(
    source: str,
    enhancer_path: str | None,
    gamma: float | None,
    out: str | None,
    side_by_side: bool,
    backend: str | None,
    threads: int | None,
) -> None:
    """Enhance a video, a frame folder or an image and write the result."""
    from darkedge.enhance.apply import choose_enhancer, enhance_file

    enhancer = choose_enhancer(enhancer_path, gamma)
    written = enhance_file(source, enhancer, out, side_by_side, backend=backend, threads=threads)
    click.echo(f"wrote {written}")


@main.command(
    "train",
    cls=SettingsCommand,
    settings="darkedge.config:TrainConfig",
    help="Train enhancer, teacher, distilled student and the raw baseline into one run directory (--stage "
    "two_stream adds the two-stream baseline); print the table.\n\n"
    "Settings, lowest precedence first: the preset, --config FILE, then --set and the flags that name a setting "
    "(--data, --video-root, --preset, --seed, --epochs, --workers, --pretrained, --unlabeled, --val, --cache). An existing run (--run, --resume) may change "
    f"only {', '.join(RUN_SETTINGS)}.",
)
@click.option(
    "--data", default=None, help=f"Data set folder or list file (default: the built-in set, {BUILTIN_DATA})."
)
@click.option(
    "--preset", default=None, help="small (default, CPU), paper (GPU), real (real footage, CPU) or test."
)
@settings_options
@click.option(
    "--pretrained",
    default=None,
    help="Encoder weights: a timm ViT (.safetensors / .bin / .pth) or a torchvision / IG65M R(2+1)D .pth.",
)
@click.option(
    "--unlabeled",
    default=None,
    help="Unlabelled footage for the student (KL to the teacher only): a folder of videos, a list file or long "
    "recordings.",
)
@click.option(
    "--val",
    default=None,
    help="The data set's own validation clips (a list file or a folder per class); default: val_fraction of the "
    "labelled training clips, held out a scene or camera at a time.",
)
@click.option(
    "--cache",
    default=None,
    help="Decode each video once: auto (inter-coded video, in ~/.cache/darkedge/clips), off, or a folder.",
)
@WORKERS
@click.option("--out", default=RUNS_DIR, show_default=True, help="Where new run directories go.")
@click.option("--seed", type=int, default=None, help="Seed of the run.")
@click.option("--stage", default=None, help=f"Run one stage: {', '.join(STAGES)}.")
@click.option("--run", "run_dir", default=None, help="An existing run directory to work in.")
@click.option(
    "--resume", is_flag=True, help="Continue the run (default OUT/latest) from its last epoch checkpoint."
)
@click.option("--epochs", type=int, default=None, help="Epochs of every classifier stage.")
@click.option(
    "--calib",
    "calib_dir",
    default=CALIB_DIR,
    show_default=True,
    help="After a full run, fill this folder with calibration clips from the run's data if it has none.",
)
@_video_root_option
def train_command(config_file, sets, out, stage, run_dir, resume, calib_dir, **flags) -> None:
    """`darkedge train` (its help is above: it names config.RUN_SETTINGS)."""
    from darkedge.config import TrainConfig
    from darkedge.quant.calib import fill_if_empty
    from darkedge.settings import merge_settings, parse_settings
    from darkedge.train.command import train

    settings = merge_settings(TrainConfig, flags, parse_settings(TrainConfig, sets))
    path, table = train(
        out=out, stage=stage, run=run_dir, resume=resume, settings=settings, config_file=config_file
    )
    if table is None:
        return
    click.echo(table)
    click.echo(f"run: {path}")
    if stage is None and calib_dir:
        built = fill_if_empty(calib_dir, path)
        if built:
            click.echo(
                f"calibration: {built['chosen']} clips in {calib_dir} (for `darkedge quantize --calib {calib_dir}`)"
            )


@main.group(cls=_Group)
def calib() -> None:
    """Calibration sets for INT8 quantization."""


@calib.command("build", cls=SettingsCommand, settings="darkedge.quant.calib:CalibConfig")
@click.option("--data", default=None, help="Data set folder or list file (default: the run's data).")
@click.option("--run", default=None, help="Run whose data is the default.")
@click.option("--out", default=None, help="Folder the chosen clips are copied into.")
@click.option("--clips", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@click.option(
    "--fold",
    type=click.IntRange(min=0),
    default=None,
    help="Which official split's training list (default: the run's; ARID v1.5: 0, 1).",
)
@_video_root_option
@settings_options
def calib_build(config_file, sets, **flags) -> None:
    """Pick clips stratified over classes and brightness from the training split; copy them with a list."""
    from darkedge.quant.calib import build_for

    cfg = _settings("darkedge.quant.calib:CalibConfig", flags, sets, config_file)
    summary = build_for(cfg)
    click.echo(
        f"{cfg.out}: {summary['chosen']} clips from {summary['data']} ({summary['classes_covered']} classes"
        + (f" + {summary['unlabeled']} unlabelled clips" if summary["unlabeled"] else "")
        + f", brightness terciles split at {summary['brightness_tercile_edges']}; "
        f"{summary['unreadable_skipped']} unreadable skipped)"
    )


@main.command("quantize", cls=SettingsCommand, settings="darkedge.quant.qat:QatConfig")
@click.option("--calib", default=None, help="Calibration clips (a folder, a list or a data set).")
@click.option("--run", "run_dir", default=DEFAULT_RUN, show_default=True)
@click.option("--calib-clips", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("--epochs", type=click.IntRange(min=0), default=None, help="QAT epochs.")
@click.option("--max-steps", type=click.IntRange(min=0), default=None, help="Stop QAT after this many steps.")
@click.option("--lr", type=float, default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--accumulate", type=click.IntRange(min=1), default=None, help="Batches per optimiser step.")
@click.option(
    "--grad-clip", type=click.FloatRange(min=0), default=None, help="Clip the gradient norm (0: off)."
)
@click.option(
    "--student-kl", "gamma", type=float, default=None, help="Weight of KL to the FP32 student (0: off)."
)
@WORKERS
@click.option(
    "--labels/--no-labels",
    "use_labels",
    default=None,
    help="--no-labels: teacher targets only, even where labels are known.",
)
@click.option(
    "--smooth-quant/--no-smooth-quant",
    default=None,
    help="Switch SmoothQuant off (it crashes on shared weights).",
)
@click.option("--export/--no-export", default=None, help="The Q/DQ ONNX and OpenVINO INT8 exports.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the QAT a killed run left in RUN/quant/resume.pt (same settings); without it, start over.",
)
@settings_options
def quantize_command(run_dir, resume, config_file, sets, **flags) -> None:
    """PTQ from calibration clips, then QAT with distillation from the teacher; INT8 student, report, exports."""
    from darkedge.quant import quantize_run

    cfg = _settings("darkedge.quant.qat:QatConfig", flags, sets, config_file, section="settings")
    report, table = quantize_run(run_dir, cfg, resume=resume)
    if table is not None:
        click.echo(table)
        click.echo(f"report: {run_dir}/quant/report.json")


@main.command("export")
@click.option("--run", "run_dir", default=DEFAULT_RUN, show_default=True)
@click.option("--model", type=click.Choice(EXPORT_MODELS), default=EXPORT_MODELS[0], show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None, help="[default: fp32]")
@click.option(
    "--check", is_flag=True, help="Compare every exported model with PyTorch in each runtime present."
)
@click.option("--clips", "num_clips", type=click.IntRange(min=1), default=None, help="Clips for --check.")
@click.option(
    "--torch-tensorrt",
    is_flag=True,
    help="With --format tensorrt: compile with torch-tensorrt (desktop GPUs).",
)
def export_command(run_dir, model, fmt, precision, check, num_clips, torch_tensorrt) -> None:
    """Export a run's model to ONNX, OpenVINO IR or a TensorRT engine (RUN/export/, listed in manifest.json)."""
    from darkedge.export import check_exports, export_model, format_check
    from darkedge.run import open_run

    run = open_run(run_dir)
    if fmt is None and not check:
        raise click.UsageError(f"give --format {'|'.join(FORMATS)}, or --check")
    if fmt is not None:
        click.echo(f"wrote {export_model(run, model, fmt, precision, torch_tensorrt)}")
    if check:
        clips = {} if num_clips is None else {"num_clips": num_clips}
        click.echo(format_check(*check_exports(run, **clips)))


@main.group(cls=SettingsGroup, settings="darkedge.bench.command:BenchOptions", invoke_without_command=True)
@click.option("--run", type=click.Path(), default=None, help="The run whose models are compared.")
@click.option(
    "--compare",
    type=click.Choice(["two-stream", "enhance-then-classify", "all"]),
    default=None,
    help="Which baseline designs to measure beside the INT8 and FP32 student.",
)
@click.option("--backend", type=click.Choice(BACKENDS), default=None)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Inference threads (default: every usable core).",
)
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Batch size for throughput.")
@click.option("--runs", type=int, default=None, help="Minimum timed runs per model.")
@click.option(
    "--min-time", type=click.FloatRange(min=0), default=None, help="Minimum seconds timed per model."
)
@click.option(
    "--list", "labelled_list", type=click.Path(), default=None, help="Labelled list or data set for top-1."
)
@click.option(
    "--max-clips", type=click.IntRange(min=1), default=None, help="Score at most this many clips of --list."
)
@click.option(
    "--e2e",
    is_flag=True,
    default=None,
    help="Also time decode, preprocess, enhance and inference on the run's test videos.",
)
@_video_root_option
@click.option("--device", default=None, help="For --backend torch: cpu, cuda or cuda:N.")
@click.option(
    "--precision",
    "precisions",
    multiple=True,
    default=None,
    help="Repeatable: fp32, fp16, int8 (exports) or fp32, fp16, bf16 (torch autocast) "
    "[default: int8 and fp32; torch on CUDA: fp32 and bf16; tensorrt: int8, fp16 and fp32].",
)
@click.option(
    "--compile", is_flag=True, default=None, help="With --backend torch: torch.compile every model."
)
@click.option(
    "--cuda-graphs",
    is_flag=True,
    default=None,
    help="With --backend torch --device cuda: replay each model as a CUDA graph.",
)
@settings_options
@click.pass_context
def bench(ctx: click.Context, config_file, sets, precisions, **flags) -> None:
    """Latency, throughput, size, memory and accuracy of the INT8 student against the designs it replaces
    (`darkedge bench cameras`: how many cameras this box keeps up with)."""
    from pathlib import Path

    if ctx.invoked_subcommand is not None:
        if config_file or sets or precisions or any(v is not None for v in flags.values()):
            raise click.UsageError(f"bench's options go after `bench {ctx.invoked_subcommand}`, not before")
        return

    from darkedge.bench.command import bench_run
    from darkedge.bench.report import table_text, write_reports

    flags["precisions"] = tuple(precisions) or None
    options = _settings("darkedge.bench.command:BenchOptions", flags, sets, config_file)
    report = bench_run(options)
    click.echo(table_text(report))
    for path in write_reports(report, Path(report["run"]) / "bench"):
        click.echo(f"wrote {path}")


@bench.command("cameras", cls=SettingsCommand, settings="darkedge.bench.cameras:CamerasConfig")
@click.option(
    "--model", default=None, help="What infer runs: an export (.xml, .onnx, .engine) or a checkpoint."
)
@click.option(
    "--footage",
    default=None,
    help="Video file or folder the loopback cameras stream, looped [default: the built-in dark clips].",
)
@click.option(
    "--sources",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of camera URLs (as infer --sources takes) to probe instead of loopback cameras.",
)
@click.option(
    "--protocol", type=click.Choice(["rtsp", "mjpeg"]), default=None, help="Loopback cameras' protocol."
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="infer's threads [default: every core]."
)
@click.option("--out", default=None, help="Folder for cameras.{md,json,png} [default: runs/cameras].")
@settings_options
def bench_cameras(config_file, sets, **flags) -> None:
    """How many cameras this box keeps up with for one model: probes of N cameras (loopback ones streaming night
    footage, or given URLs) watched by one `darkedge infer`; a report of where the time goes, and lag against N."""
    from pathlib import Path

    from darkedge.bench.cameras import bench_cameras, summary_line, write_report

    cfg = _settings("darkedge.bench.cameras:CamerasConfig", flags, sets, config_file)
    result = bench_cameras(cfg)
    click.echo(summary_line(result))
    for path in write_report(result, Path(cfg.out)):
        click.echo(f"wrote {path}")


def _renamed(new: str):
    """A click callback for an option that was renamed: given at all, it is a one-line error naming the new one
    (`--stride` meant the hop in infer and the frame step in old configs: one name for each now)."""

    def refuse(ctx: click.Context, param: click.Parameter, value: object) -> None:
        if value is not None:
            raise DarkedgeError(
                f"--{param.name}: renamed {new} (frames between window starts); use {new} {value}"
            )

    return refuse


@main.command(cls=SettingsCommand, settings="darkedge.infer.command:InferConfig")
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option(
    "--sources",
    "sources_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file listing more SOURCEs, one a line (NAME=SOURCE allowed, # comments).",
)
@click.option("--model", default=None, help="A checkpoint (.pt) or an export (.onnx, .xml, .engine).")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default=None,
    help="Runtime (default: from the model file's extension).",
)
@click.option("--threads", type=int, default=None, help="Inference threads.")
@click.option("--frames", type=int, default=None, help="Window length T (must match a static model).")
@click.option("--size", type=int, default=None, help="Frame crop size (must match a static model).")
@click.option(
    "--hop",
    type=int,
    default=None,
    help="Frames between window starts (default: about half the window's span, in whole frame steps).",
)
@click.option("--stride", hidden=True, expose_value=False, callback=_renamed("--hop"))
@click.option(
    "--frame-step",
    type=int,
    default=None,
    help="Frames between a window's frames (default: the model's, from its metadata, else 1).",
)
@click.option("--smooth", type=int, default=None, help="Average the softmax over the last K windows.")
@click.option("--threshold", type=float, default=None, help="Emit events at this smoothed score.")
@click.option("--events", default=None, help="Append JSON-lines events to this file (default: stdout).")
@click.option("--annotate", default=None, help="Write an annotated video here (.mp4, .avi, ...).")
@click.option("--max-windows", type=int, default=None, help="Stop after N windows.")
@click.option(
    "--max-batch", type=int, default=None, help="Windows (one per camera) run together in one inference call."
)
@click.option("--buffer", type=int, default=None, help="Frames a live camera queues before dropping.")
@click.option("--reconnect", default=None, help="Stream reconnect back-off: first,maximum delay in seconds.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics (/metrics) and health (/healthz) on this port (0: any free port).",
)
@click.option("--metrics-host", default=None, help="Address the metrics endpoint binds.")
@settings_options
def infer(sources: tuple[str, ...], config_file, sets, **flags) -> None:
    """Recognise actions in each SOURCE: a video file, a folder of videos, an RTSP/HTTP(S) URL or a camera index.

    Several SOURCEs are cameras watched at once by one model, their windows batched; NAME=SOURCE names one.
    """
    from darkedge.infer.command import infer_cameras

    flags["sources"] = list(sources) or None
    summary = infer_cameras(_settings("darkedge.infer.command:InferConfig", flags, sets, config_file))
    click.echo(summary.format(), err=True)
    if summary.stopped_by:  # stopped by a signal: the conventional 128 + its number (SIGTERM 143, SIGINT 130)
        sys.exit(128 + signal.Signals[summary.stopped_by])
