"""darkedge bench: the timing protocol on a fake clock, the reports, and the command on a tiny run it makes."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers_model import classifier_config

from darkedge.bench.command import default_precisions
from darkedge.bench.e2e import time_pipeline
from darkedge.bench.report import markdown, table_text, write_reports
from darkedge.bench.timing import LatencyStats, TimingProtocol, time_calls, time_interleaved
from darkedge.checkpoint import save_checkpoint
from darkedge.cli import main
from darkedge.config import make_config
from darkedge.enhance import EnhancerConfig
from darkedge.models import build_model
from darkedge.run import save_run_config

CLASSES = ["Drink", "Jump", "Pick"]
QUICK_BENCH = [
    "bench",
    "--threads",
    "1",
    "--runs",
    "5",
    "--min-time",
    "0",
]  # few runs: these tests check plumbing


class FakeClock:
    """A clock that only moves when the stub function 'runs': each call takes the next scripted duration."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = iter(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += next(self.durations)


def test_percentiles_of_known_durations():
    stats = LatencyStats.from_seconds([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert stats.runs == 100
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert (stats.min_ms, stats.max_ms, stats.mean_ms) == pytest.approx((1, 100, 50.5))


def test_warmup_is_excluded_and_runs_stop_when_settled():
    warmup = [5.0, 5.0, 5.0]  # slow first calls, e.g. kernel selection
    timed = [0.010 + 0.001 * (i % 10) for i in range(1000)]  # 10..19 ms, repeating: settles quickly
    clock = FakeClock(warmup + timed)
    protocol = TimingProtocol(warmup_runs=3, warmup_s=1.0, min_runs=20, min_time_s=0.1, tolerance=0.02)
    stats = time_calls(clock.work, protocol, clock=clock)
    assert stats.max_ms < 20  # no warm-up call was counted
    assert stats.runs >= 20 and stats.runs * 0.0145 >= 0.1  # minimum count and minimum time both held
    assert stats.runs < 1000  # stopped once the median settled
    expected = np.asarray(timed[: stats.runs]) * 1000
    assert stats.p50_ms == pytest.approx(np.percentile(expected, 50))
    assert stats.p99_ms == pytest.approx(np.percentile(expected, 99))
    assert clock.calls == 3 + stats.runs


def test_warmup_lasts_its_minimum_time_and_timing_its_maximum():
    clock = FakeClock([0.3] * 4 + [1.0] * 100)
    protocol = TimingProtocol(warmup_runs=1, warmup_s=1.0, min_runs=1000, min_time_s=0.0, max_time_s=5.0)
    stats = time_calls(clock.work, protocol, clock=clock)
    assert clock.calls - stats.runs == 4  # 0.3 s calls until 1 s of warm-up had passed
    assert stats.runs == 5  # max_time_s ends a run that never reaches min_runs


def test_interleaved_timing_alternates_and_keeps_each_model_apart():
    clock = FakeClock([])
    order = []

    def call(name, seconds):
        def fn():
            order.append(name)
            clock.now += seconds

        return fn

    protocol = TimingProtocol(warmup_runs=2, warmup_s=0.0, min_runs=10, min_time_s=0.0, tolerance=0.01)
    stats = time_interleaved(
        {"fast": call("fast", 0.002), "slow": call("slow", 0.008)}, protocol, clock=clock, calls_per_turn=3
    )
    assert order[:4] == ["fast", "fast", "slow", "slow"]  # warm-up, model by model
    assert order[4:16] == (["fast"] * 3 + ["slow"] * 3) * 2  # then turns of 3 calls each
    assert stats["fast"].runs == stats["slow"].runs >= 10
    assert stats["fast"].p50_ms == pytest.approx(2.0) and stats["slow"].p99_ms == pytest.approx(8.0)


def _report(accuracies):
    models = []
    for (name, model, precision), top1 in zip(
        [
            ("student_int8", "student", "int8"),
            ("student_fp32", "student", "fp32"),
            ("two_stream_fp32", "two_stream", "fp32"),
        ],
        accuracies,
        strict=True,
    ):
        p50 = {"student_int8": 5.0, "student_fp32": 10.0, "two_stream_fp32": 40.0}[name]
        models.append(
            {
                "name": name,
                "model": model,
                "design": model,
                "precision": precision,
                "size_mb": 1.0,
                "parameters": 1000,
                "macs_per_clip": 10**9,
                "input_shape": [1, 3, 8, 64, 64],
                "latency": {"p50_ms": p50, "p90_ms": p50, "p99_ms": p50},
                "throughput": {"batch": 4, "clips_per_s": 1000 / p50},
                "memory": {"peak_rss_mb": 100.0},
                "accuracy": None if top1 is None else {"top1": top1},
                "speedup": {"two_stream_fp32": 40.0 / p50},
            }
        )
    machine = {"cpu": "cpu", "logical_cores": 2, "cpu_flags": ["avx2"], "libraries": {"openvino": "x"}}
    return {
        "run": "r",
        "compare": "two-stream",
        "backend": "openvino",
        "threads": 2,
        "batch": 4,
        "machine": machine,
        "models": models,
        "notes": ["n"],
    }


@pytest.mark.parametrize("accuracies", [(60.0, 61.0, 62.0), (None, 61.0, None), (None, None, None)])
def test_reports_and_plot_are_written(tmp_path, accuracies):
    report = _report(accuracies)
    paths = write_reports(report, tmp_path / "bench")
    assert [p.name for p in paths] == ["bench.json", "bench.md", "bench.png"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[2].stat().st_size > 5000
    assert json.loads(paths[0].read_text())["models"][0]["name"] == "student_int8"
    text = table_text(report)
    assert "x vs two_stream_fp32" in text and "8.00" in text  # 40 ms / 5 ms
    assert "| student_int8 |" in markdown(report)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run directory with test-preset vit_nano checkpoints and a real NNCF INT8 student IR, plus dark videos."""
    from darkedge.data.writer import write_video
    from darkedge.export.openvino import export_openvino
    from darkedge.quant.ptq import quantize_ptq

    root = tmp_path_factory.mktemp("bench")
    run = root / "run"
    cfg = make_config("test")
    save_run_config(run, cfg, CLASSES) if run.mkdir() is None else None
    classifier = asdict(
        classifier_config(
            encoder="vit_nano", num_classes=len(CLASSES), num_frames=cfg.num_frames, img_size=cfg.crop
        )
    )
    both = {"enhancer": asdict(EnhancerConfig(name="zero_dce")), "classifier": classifier}
    torch.manual_seed(0)
    models = {}
    for name, kind, config in [
        ("student", "classifier", classifier),
        ("teacher", "teacher", both),
        ("two_stream", "two_stream", both),
    ]:
        models[name] = build_model(kind, config).eval()
        save_checkpoint(
            run / f"{name}.pt",
            kind=kind,
            config=config,
            state_dict=models[name].state_dict(),
            class_names=CLASSES,
            metrics={"top1": 40.0},
        )
    save_checkpoint(
        run / "enhancer.pt",
        kind="enhancer",
        config=both["enhancer"],
        state_dict=models["teacher"].enhancer.state_dict(),
    )
    shape = (1, 3, cfg.num_frames, cfg.crop, cfg.crop)
    quantized = quantize_ptq(models["student"], [torch.rand(shape) for _ in range(2)])
    export_openvino(quantized, shape, run / "export" / "student_int8.xml", "int8")
    videos = root / "videos"
    rng = np.random.default_rng(0)
    for c in CLASSES:
        frames = (rng.random((12, 48, 64, 3)) * 40).astype(np.uint8)  # dark noise
        write_video(videos / c / f"{c}_1_1.avi", frames, fps=10)
    return run, videos


def test_bench_command_on_a_tiny_run(tiny_run):
    run, videos = tiny_run
    args = [*QUICK_BENCH, "--run", str(run), "--compare", "enhance-then-classify"]
    result = CliRunner().invoke(main, [*args, "--batch", "2", "--list", str(videos)])
    assert result.exit_code == 0, result.output
    assert "student_int8" in result.output and "x vs teacher_fp32" in result.output
    report = json.loads((run / "bench" / "bench.json").read_text())
    assert report["schema_version"] == 1
    assert {"cpu", "logical_cores", "cpu_flags", "libraries"} <= set(report["machine"])
    assert "openvino" in report["machine"]["libraries"]
    names = [m["name"] for m in report["models"]]
    assert names == ["student_int8", "student_fp32", "teacher_fp32"]
    for m in report["models"]:
        assert (
            m["latency_alone"]["runs"] >= 5
        )  # in its own process; "latency" is side by side with the others
        assert m["latency"]["runs"] == report["models"][0]["latency"]["runs"]
        assert (
            m["latency"]["runs"] >= 5
            and 0 < m["latency"]["p50_ms"] <= m["latency"]["p90_ms"] <= m["latency"]["p99_ms"]
        )
        assert m["parameters"] > 0 and m["macs_per_clip"] > 0 and m["size_mb"] > 0
        assert (
            m["memory"]["peak_rss_mb"]
            >= m["memory"]["rss_after_load_mb"]
            > m["memory"]["rss_before_load_mb"]
            > 0
        )
        assert m["accuracy"]["source"] == "labelled list" and m["accuracy"]["clips"] == len(CLASSES)
        assert m["input_shape"] == [1, 3, 4, 32, 32]
    teacher = report["models"][2]
    assert teacher["speedup"]["teacher_fp32"] == pytest.approx(1.0)
    assert teacher["macs_per_clip"] > report["models"][1]["macs_per_clip"]  # Zero-DCE on every frame
    assert (run / "bench" / "bench.png").is_file() and (run / "bench" / "bench.md").is_file()
    assert (run / "export" / "teacher_fp32.xml").is_file()  # exported on demand with darkedge export


def test_throughput_reshapes_a_static_openvino_ir_to_the_batch(tmp_path):
    """A batch-1 IR of a conv net is reshaped to the asked batch; the ViT's IR fixes its batch in the graph."""
    from darkedge.bench.measure import MeasureJob, measure
    from darkedge.export.openvino import export_openvino

    config = asdict(
        classifier_config(encoder="r2plus1d_nano", head="mean", num_classes=3, num_frames=4, img_size=32)
    )
    quick = TimingProtocol(warmup_runs=1, warmup_s=0, min_runs=5, min_time_s=0, max_time_s=5)
    for encoder, batch in (("r2plus1d_nano", 3), ("vit_nano", 1)):
        model = build_model("classifier", {**config, "encoder": encoder})
        path = export_openvino(model, (1, 3, 4, 32, 32), tmp_path / f"{encoder}.xml", "fp32")
        result = measure(MeasureJob(path, "openvino", threads=1, batch=3, protocol=quick))
        assert result["input_shape"] == [1, 3, 4, 32, 32]  # latency stays per clip
        assert result["throughput"]["batch"] == batch and result["throughput"]["clips_per_s"] > 0
        assert ("note" in result["throughput"]) == (batch == 1)


def test_end_to_end_stages_on_real_videos(tiny_run):
    run, videos = tiny_run
    clips = sorted(videos.glob("*/*.avi"))
    teacher = time_pipeline(run / "teacher.pt", "torch", 1, run / "enhancer.pt", clips)  # sampled as trained
    assert set(teacher) == {"decode", "preprocess", "enhance", "inference", "total"}
    assert all(ms > 0 for ms in teacher.values())
    assert teacher["total"] == pytest.approx(teacher["decode"] + teacher["preprocess"] + teacher["inference"])
    student = time_pipeline(
        run / "export" / "student_int8.xml", "openvino", 1, None, [*clips, videos / "bad.avi"]
    )
    assert set(student) == {
        "decode",
        "preprocess",
        "inference",
        "total",
    }  # no enhancer; the missing file skipped


def test_a_two_stream_the_run_did_not_train_is_timed_untrained(tiny_run, tmp_path):
    """`darkedge train` leaves two-stream out: bench still times that architecture, says so, reports no accuracy."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path / "run"))
    (run / "two_stream.pt").unlink()
    args = [*QUICK_BENCH, "--run", str(run), "--compare", "two-stream", "--list", str(tiny_run[1])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((run / "bench" / "bench.json").read_text())
    two_stream = next(m for m in report["models"] if m["name"] == "two_stream_fp32")
    assert two_stream["accuracy"] is None and two_stream["macs_per_clip"] > 0  # timed, never scored
    assert report["models"][0]["accuracy"]["source"] == "labelled list"
    assert Path(two_stream["file"]).parent == run / "bench" / "untrained" / "export"
    assert any("timed untrained" in note and "--stage two_stream" in note for note in report["notes"])
    assert not (run / "two_stream.pt").exists()


def test_run_without_int8_student_names_the_command(tiny_run, tmp_path):
    run, _ = tiny_run
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "student.pt", "two_stream.pt"):
        shutil.copy(run / name, bare / name)
    result = CliRunner().invoke(main, ["bench", "--run", str(bare), "--compare", "two-stream"])
    assert result.exit_code == 1
    assert "darkedge quantize --calib calibration/" in result.output and "student_int8" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_backend_not_installed_names_the_package(tiny_run, monkeypatch):
    run, _ = tiny_run
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = CliRunner().invoke(main, ["bench", "--run", str(run), "--backend", "onnxruntime"])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == "Error: --backend onnxruntime: backend 'onnxruntime' is not installed (pip install onnxruntime)"
    )


def test_not_a_run(tmp_path):
    result = CliRunner().invoke(main, ["bench", "--run", str(tmp_path)])
    assert result.exit_code == 1 and "not a darkedge run directory" in result.output


def test_torch_backend_times_autocast_models_side_by_side(tiny_run, tmp_path):
    """The GPU table's code path, run on the CPU: bf16 autocast of the student and two-stream, same report."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path / "run"))
    args = [*QUICK_BENCH, "--run", str(run), "--backend", "torch", "--compare", "two-stream"]
    result = CliRunner().invoke(main, [*args, "--batch", "2", "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "bench" / "bench.json").read_text())
    assert [m["name"] for m in report["models"]] == ["student_bf16", "two_stream_bf16"]
    assert report["device"] == "cpu" and all(m["throughput"]["batch"] == 2 for m in report["models"])
    assert all(m["latency"]["runs"] >= 5 for m in report["models"]) and "student_bf16" in result.output


def test_default_precisions_per_backend_and_device():
    assert default_precisions("torch", "cuda") == ("fp32", "bf16")
    assert default_precisions("torch", "cpu") == ("fp32",)
    assert default_precisions("tensorrt", "cpu") == ("int8", "fp16", "fp32")
    assert default_precisions("openvino", "cpu") == ("int8", "fp32")


def test_bf16_autocast_predicts_what_fp32_does(tiny_run):
    from darkedge.runtime import TorchSettings, load_predictor

    clips = np.random.default_rng(0).random((2, 3, 4, 32, 32), dtype=np.float32)
    fp32 = load_predictor(tiny_run[0] / "teacher.pt", threads=1).predict(clips)
    bf16 = load_predictor(
        tiny_run[0] / "teacher.pt", threads=1, torch_settings=TorchSettings(precision="bf16")
    )
    np.testing.assert_allclose(bf16.predict(clips), fp32, atol=0.1)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--backend", "torch", "--device", "cuda"], "--device cuda: no CUDA GPU visible to torch"),
        (["--backend", "torch", "--device", "tpu"], "--device tpu: expected cpu, cuda or cuda:N"),
        (["--backend", "torch", "--cuda-graphs"], "--cuda-graphs: CUDA graphs need --device cuda"),
        (["--backend", "torch", "--precision", "int4"], "--precision int4: the torch backend runs fp32"),
        (
            ["--backend", "openvino", "--device", "cuda"],
            "for --backend torch (--backend openvino runs on the CPU)",
        ),
        (["--backend", "openvino", "--compile"], "for --backend torch"),
    ],
)
def test_device_options_that_cannot_run_are_one_line(tiny_run, args, needle):
    if "cuda" in args and "openvino" not in args and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = CliRunner().invoke(main, ["bench", "--run", str(tiny_run[0]), *args])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert needle in result.output
