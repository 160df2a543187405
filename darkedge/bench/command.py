"""`darkedge bench`: the INT8 student against the FP32 student and the designs it replaces, on one backend.

Every model runs on the same backend, input shape and thread count, each in its own process (measure.py);
parameters and multiply-accumulates come from the PyTorch checkpoints, which share the exports' architecture.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from darkedge.bench.e2e import run_e2e
from darkedge.bench.machine import machine_info
from darkedge.bench.measure import (
    MeasureJob,
    cpu_threads_default,
    in_subprocess,
    measure,
    measure_interleaved,
)
from darkedge.bench.timing import TimingProtocol
from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.errors import DarkedgeError, require
from darkedge.export.command import export_model
from darkedge.export.openvino import size_on_disk
from darkedge.factory import with_enhancer
from darkedge.logs import progress
from darkedge.models import count_macs, count_parameters, load_model, model_input_shape
from darkedge.names import BACKEND_SUFFIXES, BACKENDS, DEFAULT_RUN, INT8_NAME, MIB, STAGE_KINDS
from darkedge.run import Run, open_run
from darkedge.runtime.torch_settings import TorchSettings, check_torch_settings
from darkedge.settings import at_least

SCHEMA_VERSION = 1
MIN_RUNS = 5  # timed runs per model, at least
DESIGNS = {
    "student": "student (one network, raw frames)",
    "teacher": "enhance-then-classify",
    "two_stream": "two-stream",
}
BASELINES = {
    "two-stream": ("two_stream",),
    "enhance-then-classify": ("teacher",),
    "all": ("two_stream", "teacher"),
}


@dataclass
class BenchOptions:
    """What `darkedge bench` compares and how it measures."""

    run: str = DEFAULT_RUN
    compare: str = "all"  # the baselines beside the student: two-stream, enhance-then-classify or all
    backend: str = "openvino"
    threads: int | None = None  # None: every core this process may use
    batch: int = 4  # the batch throughput is measured at
    runs: int = 100  # at least this many timed runs per model
    min_time: float = 3.0  # and at least this many seconds
    labelled_list: str | None = None  # a labelled list or data set to score top-1 on
    video_root: str | None = None  # where the list's videos are looked for first
    max_clips: int | None = None  # score at most this many clips of the list
    e2e: bool = False  # also time decode, preprocess, enhance and inference on the run's test videos
    device: str = "cpu"  # torch backend: cpu, cuda or cuda:N
    precisions: tuple[str, ...] = ()  # () = the backend's default (default_precisions)
    compile: bool = False  # torch backend: torch.compile every model
    cuda_graphs: bool = False  # torch backend on CUDA: replay each model as a CUDA graph

    def __post_init__(self) -> None:
        """One-line errors for options that do not go together (whether this machine has the device is checked
        when the bench starts: `measured_precisions`)."""
        if self.compare not in BASELINES:
            raise DarkedgeError(f"--compare {self.compare}: choose from {', '.join(BASELINES)}")
        if self.backend not in BACKENDS:
            raise DarkedgeError(f"--backend {self.backend}: choose from {', '.join(BACKENDS)}")
        if self.backend != "torch" and (self.device != "cpu" or self.compile or self.cuda_graphs):
            raise DarkedgeError(
                f"--device / --compile / --cuda-graphs: for --backend torch (--backend {self.backend} runs "
                f"{'on the GPU it was built for' if self.backend == 'tensorrt' else 'on the CPU'})"
            )
        if self.e2e and self.device != "cpu":
            raise DarkedgeError("--e2e: end-to-end timing runs on the CPU (leave out --device)")
        at_least(self, 1, ("threads", "batch", "max_clips"))
        if self.runs < MIN_RUNS:
            raise DarkedgeError(f"runs {self.runs}: must be at least {MIN_RUNS} (the percentiles need them)")
        at_least(self, 0, ("min_time",))

    @property
    def protocol(self) -> TimingProtocol:
        return TimingProtocol(min_runs=self.runs, min_time_s=self.min_time, warmup_s=min(1.0, self.min_time))

    def torch_settings(self, precision: str) -> TorchSettings:
        return TorchSettings(self.device, precision, self.compile, self.cuda_graphs)


@dataclass
class Candidate:
    """One model file to measure, and the checkpoint its architecture comes from."""

    model: str
    precision: str
    path: Path
    checkpoint: Path
    torch: TorchSettings | None = None  # how the torch backend runs it
    untrained: bool = False  # a stand-in for a baseline the run did not train: timed, never scored

    @property
    def name(self) -> str:
        return f"{self.model}_{self.precision}"


def _export(run, model: str, precision: str, backend: str) -> Path:
    """Export a model the run lacks for this backend with `darkedge export`'s function (listed in the manifest)."""
    fmt = "onnx" if backend == "onnxruntime" else backend
    return export_model(run, INT8_NAME if precision == "int8" else model, fmt, precision)


def default_precisions(backend: str, device: str) -> tuple[str, ...]:
    """What `darkedge bench` compares when --precision is not given: INT8 against FP32 on the export backends
    (and FP16 on TensorRT, where transformers are often no faster in INT8), FP32 and bf16 autocast on a GPU."""
    if backend == "torch":
        return ("fp32", "bf16") if device.startswith("cuda") else ("fp32",)
    if backend == "tensorrt":
        return ("int8", "fp16", "fp32")
    return ("int8", "fp32")


def measured_precisions(options: BenchOptions) -> tuple[str, ...]:
    """The precisions to measure, after a one-line error when torch cannot see the device asked for."""
    if options.backend == "torch":
        check_torch_settings(options.torch_settings("fp32"))
    return options.precisions or default_precisions(options.backend, options.device)


def untrained_stand_in(run: Run, model: str) -> Run:
    """A run view in RUN/bench/untrained/ holding an untrained `model` (the run's trained enhancer, fresh
    classifier weights): a baseline the run did not train (`darkedge train` leaves two-stream out) is still timed,
    since latency, size and cost depend on the architecture, not the weights. It has no accuracy."""
    folder = run.path / "bench" / "untrained"
    if not (folder / f"{model}.pt").is_file():
        net, config = with_enhancer(model, run)
        save_checkpoint(
            folder / f"{model}.pt",
            kind=STAGE_KINDS[model],
            config=config,
            state_dict=net.state_dict(),
            class_names=run.class_names,
            metrics={"untrained": True},
        )
    return Run(folder, run.config, run.class_names)


def find_candidates(run, options: BenchOptions) -> tuple[list[Candidate], list[str]]:
    """The model files to compare, exporting missing FP32 files; notes say what was skipped or made."""
    precisions = measured_precisions(options)
    require(options.backend, f"--backend {options.backend}")
    notes: list[str] = []
    candidates: list[Candidate] = []
    for model in ("student", *BASELINES[options.compare]):
        source = run
        if model == "two_stream" and not (run.path / f"{model}.pt").is_file():
            source = untrained_stand_in(run, model)
            notes.append(
                f"{model}: not trained in this run, timed untrained (same architecture and cost, no accuracy); "
                f"`darkedge train --stage {model} --run {run.path}` trains it"
            )
        checkpoint = source.checkpoint(model)
        for precision in precisions:
            name = f"{model}_{precision}"
            path = source.path / "export" / f"{name}{BACKEND_SUFFIXES[options.backend]}"
            if precision == "int8" and model != "student" and not path.is_file():
                notes.append(
                    f"{name}: no INT8 export in {path.parent} (only the student is quantized), not measured"
                )
                continue
            if options.backend == "torch":
                if precision == "int8":
                    notes.append(
                        f"{name}: eager torch only fake-quantizes; INT8 speed needs openvino, onnxruntime or tensorrt"
                    )
                else:
                    torch_settings = options.torch_settings(precision)
                    check_torch_settings(torch_settings)
                    candidates.append(
                        Candidate(model, precision, checkpoint, checkpoint, torch_settings, source is not run)
                    )
                continue
            if path.is_file():
                candidates.append(Candidate(model, precision, path, checkpoint, untrained=source is not run))
                continue
            if precision == "int8" and not (run.path / f"{INT8_NAME}.pt").is_file():
                raise DarkedgeError(
                    f"{path}: no INT8 student; make it with `darkedge quantize --calib calibration/ --run {run.path}`"
                )
            path = _export(source, model, precision, options.backend)
            notes.append(f"{name}: exported by the benchmark with `darkedge export` ({path.name})")
            candidates.append(Candidate(model, precision, path, checkpoint, untrained=source is not run))
    return candidates, notes


def static_costs(checkpoint: Path) -> dict[str, Any]:
    """Parameters and multiply-accumulates per clip of a checkpoint's model, at its own input shape."""
    model, ckpt = load_model(checkpoint)
    shape = (1, *model_input_shape(ckpt))
    return {
        "parameters": count_parameters(model),
        "macs_per_clip": count_macs(model, shape),
        "input_shape": list(shape),
    }


def recorded_top1(checkpoint: Path) -> float | None:
    """The test top-1 (percent) that training or `darkedge quantize` stored in a checkpoint, if any."""
    if not checkpoint.is_file():
        return None
    metrics = load_checkpoint(checkpoint).get("metrics") or {}
    return metrics.get("top1", (metrics.get("test") or {}).get("top1"))


def _accuracy(run, candidate: Candidate, measured: dict[str, Any]) -> dict[str, Any] | None:
    """Top-1 (percent) on the labelled list when one was given, else what training or quantization recorded;
    None for an untrained stand-in."""
    if candidate.untrained:
        return None
    if "accuracy" in measured:
        return dict(measured["accuracy"], source="labelled list")
    checkpoint = run.path / f"{INT8_NAME}.pt" if candidate.precision == "int8" else candidate.checkpoint
    top1 = recorded_top1(checkpoint)
    return None if top1 is None else {"top1": top1, "source": f"{checkpoint.name} (recorded test top-1)"}


def add_ratios(models: list[dict[str, Any]]) -> None:
    """Each model's speed-up at p50 against every FP32 baseline that was measured (baseline p50 / model p50)."""
    baselines = {
        m["name"]: m["latency"]["p50_ms"] for m in models if m["name"] in ("two_stream_fp32", "teacher_fp32")
    }
    for m in models:
        m["speedup"] = {name: p50 / m["latency"]["p50_ms"] for name, p50 in baselines.items()}
        m["p50_fraction"] = {name: m["latency"]["p50_ms"] / p50 for name, p50 in baselines.items()}


def bench_run(options: BenchOptions) -> dict[str, Any]:
    """Measure every model of the comparison; returns the report (written by report.write_reports)."""
    measured_precisions(options)  # before the run is opened: a missing device is the error to see first
    run = open_run(options.run)
    threads = options.threads or cpu_threads_default()
    candidates, notes = find_candidates(run, options)
    costs = {c.checkpoint: static_costs(c.checkpoint) for c in candidates}
    models = []
    for candidate in progress(candidates, desc="bench", unit="model"):
        job = MeasureJob(
            path=candidate.path,
            backend=options.backend,
            threads=threads,
            batch=options.batch,
            protocol=options.protocol,
            labelled_list=None
            if candidate.untrained or not options.labelled_list
            else Path(options.labelled_list),
            video_root=options.video_root,
            max_eval_clips=options.max_clips,
            torch=candidate.torch,
        )
        measured = in_subprocess(measure, job)
        cost = costs[candidate.checkpoint]
        models.append(
            {
                "name": candidate.name,
                "model": candidate.model,
                "design": DESIGNS[candidate.model],
                "precision": candidate.precision,
                "file": str(candidate.path),
                "size_mb": size_on_disk(candidate.path) / MIB,
                "parameters": cost["parameters"],
                "macs_per_clip": cost["macs_per_clip"],
                "input_shape": measured["input_shape"],
                "load_s": measured["load_s"],
                "latency": measured["latency"],
                "throughput": measured["throughput"],
                "memory": measured["memory"],
                "accuracy": _accuracy(run, candidate, measured),
            }
        )
    # Latency for the table: all models side by side, timed in turns of a few calls, so the ratios between them
    # hold even when the machine's load drifts; each model's own-process figures stay under "latency_alone".
    side_by_side = in_subprocess(
        measure_interleaved,
        {c.name: c.path for c in candidates},
        options.backend,
        threads,
        options.protocol,
        {c.name: c.torch for c in candidates if c.torch is not None},
    )
    for m in models:
        m["latency_alone"], m["latency"] = m["latency"], side_by_side[m["name"]]
    add_ratios(models)
    report = {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run": str(run.path),
        "compare": options.compare,
        "backend": options.backend,
        "device": options.device if options.backend == "torch" else None,
        "compile": options.compile,
        "cuda_graphs": options.cuda_graphs,
        "threads": threads,
        "batch": options.batch,
        "protocol": asdict(options.protocol),
        "machine": machine_info(),
        "models": models,
        "notes": notes,
    }
    if options.e2e:
        report["e2e"] = run_e2e(run, candidates, options, threads)
    return report
