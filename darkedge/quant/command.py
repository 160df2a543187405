"""`darkedge quantize`: PTQ from the calibration clips, quantization-aware distillation, save, report, export.

The student is calibrated and evaluated on its own clips (TrainConfig.feeding); QAT loads the teacher's clips, as
training does, and feeds the student its view of each (darkedge.data.views), so that the teacher's logits come from
the moment the student sees.

Under torchrun, rank 0 quantizes and saves the PTQ checkpoint; every rank then loads that same checkpoint (the
same quantizer placement and ranges), trains its DDP copy, and rank 0 writes the results.

QAT writes RUN/quant/resume.pt after every epoch; `resume` continues a killed run from it (PTQ, deterministic,
is done again), and a finished run removes it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from darkedge.data.dataset import ClipDataset
from darkedge.data.loader import resolve_workers
from darkedge.data.views import view_for
from darkedge.errors import DarkedgeError
from darkedge.export.command import export_model
from darkedge.export.openvino import size_on_disk
from darkedge.fileio import write_json
from darkedge.models import load_model
from darkedge.models.int8_checkpoint import load_int8_model, save_int8_checkpoint, state_dict_bytes
from darkedge.names import INT8_NAME, MIB, STAGE_KINDS, TEACHER_KINDS
from darkedge.quant.calib import calibration_batches, open_calibration
from darkedge.quant.device import qat_device
from darkedge.quant.ptq import quantize_ptq
from darkedge.quant.qat import QatConfig, finetune_quantized
from darkedge.quant.report import float_summary, format_report
from darkedge.run import Run, TrainingData, open_run
from darkedge.train.distributed import Dist, barrier, broadcast, init_distributed, shutdown_distributed
from darkedge.train.engine import RESUME_FILE, spread_budget
from darkedge.train.evaluate import describe_protocol, evaluate
from darkedge.train.guard import distillation_source, source_model

log = logging.getLogger(__name__)


def _on_rank0(d: Dist, work) -> Any:
    """Run `work()` on rank 0 and share its result; a DarkedgeError there is raised on every rank, not a hang."""
    result: dict[str, Any] = {}
    if d.is_main:
        try:
            result = {"value": work()}
        except DarkedgeError as error:
            result = {"error": str(error)}
    result = broadcast(d, result)
    if "error" in result:
        raise DarkedgeError(result["error"])
    return result["value"]


def _calibrate(
    run: Run, calib: Path, cfg: QatConfig, student, student_ckpt, ptq_path: Path
) -> dict[str, Any]:
    """PTQ from the calibration clips, saved to `ptq_path`; returns what was used."""
    index = open_calibration(calib, run.class_names)
    batches, skipped = calibration_batches(index, run.config.feeding("student"), cfg.calib_clips)
    if skipped:
        log.warning("calibration: skipped %d clip(s) that could not be decoded", skipped)
    ptq = quantize_ptq(student, batches, cfg.smooth_quant)
    save_int8_checkpoint(ptq_path, ptq, student_ckpt["config"], run.class_names)
    return {"path": str(calib), "clips_used": len(batches), "clips_skipped": skipped}


def _qat_data(run: Run, calib: Path) -> tuple[TrainingData, bool, str]:
    """What the student trained on (Run.training_data: its labelled clips and unlabelled footage), or (when the run's
    data is gone) the calibration clips with teacher targets only; sampled as the teacher's clips (the student sees
    its view of them)."""
    try:
        return run.training_data(INT8_NAME), True, f"training split of {run.config.data}"
    except DarkedgeError as error:
        log.warning("quantize: %s; distilling on the calibration clips, teacher targets only", error)
    index = open_calibration(calib, run.class_names)
    feeding = run.config.feeding("teacher")
    dataset = ClipDataset(index, feeding, train=True, skip_unreadable=True, seed=run.config.seed)
    return (
        TrainingData(dataset, None, None, len(dataset)),
        False,
        f"calibration clips in {calib} (unlabelled)",
    )


def _evaluate_all(run: Run, models: dict[str, Any], cfg: QatConfig, d: Dist) -> tuple[dict[str, Any], int]:
    """Top-1 / top-5 of each student model on the run's test split, sampled as the student is fed (None when the
    test data is not available)."""
    try:
        test_set = run.dataset("test", "student")
    except DarkedgeError as error:
        log.warning("quantize: no test split to report accuracy on (%s)", error)
        return {name: None for name in models}, 0
    results = {}
    for name, model in models.items():
        workers = resolve_workers(cfg.workers, d.device)
        protocol = run.protocol("student")
        metrics = evaluate(
            model, test_set, run.class_names, protocol, batch_size=cfg.batch_size, workers=workers, d=d
        )
        results[name] = {"top1": metrics["top1"], "top5": metrics["top5"], "n_skipped": metrics["n_skipped"]}
    return results, len(test_set)


def _export_int8(run: Run) -> dict[str, str]:
    """Q/DQ ONNX and OpenVINO INT8 IR of the new INT8 student, plus a TensorRT engine where TensorRT is installed."""
    files = {"openvino": str(export_model(run, INT8_NAME, "openvino"))}
    try:
        files["onnx"] = str(export_model(run, INT8_NAME, "onnx"))
    except DarkedgeError as e:  # e.g. a uint8 activation quantizer: the IR is still good for OpenVINO
        log.warning("Q/DQ ONNX (and so TensorRT) not written: %s", e)
        return files
    if importlib.util.find_spec("tensorrt") is not None:
        files["tensorrt"] = str(export_model(run, INT8_NAME, "tensorrt"))
    return files


def quantize_run(
    run_path: str | os.PathLike, cfg: QatConfig, resume: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """The whole `darkedge quantize`; returns (report, table) on rank 0 and (None, None) on other ranks.

    With `resume`, QAT continues from the resume checkpoint a killed run with the same settings left (and starts
    from the beginning when there is none); without, such a checkpoint is replaced.
    """
    d = init_distributed()
    try:
        run = open_run(run_path)  # a wrong --run is the first thing said, before NNCF builds its CUDA kernels
        calib = Path(cfg.calib)
        student_path, teacher_path = run.checkpoint("student"), run.checkpoint("teacher")
        d = qat_device(d)
        student, student_ckpt = load_model(student_path, kind=STAGE_KINDS["student"])
        source = distillation_source(run.metrics())  # what the student distilled
        teacher = (
            load_model(teacher_path, kind=TEACHER_KINDS)[0]
            if source == "teacher"
            else source_model(run, source)
        )
        resume_path = run.path / "quant" / RESUME_FILE
        if d.is_main and resume_path.is_file():
            what = "continuing its QAT" if resume else "starting over (--resume continues it)"
            log.info("quantize: %s holds an interrupted QAT; %s", resume_path, what)
        elif d.is_main and resume:
            log.info("quantize: no interrupted QAT in %s; starting from the beginning", resume_path.parent)
        ptq_path = run.path / "quant" / f"{INT8_NAME}_ptq.pt"
        calibration = _on_rank0(d, lambda: _calibrate(run, calib, cfg, student, student_ckpt, ptq_path))
        ptq_model, _ = load_int8_model(ptq_path, student_ckpt["config"])  # the same quantizers on every rank
        qat_model, _ = load_int8_model(ptq_path, student_ckpt["config"])
        clips, labelled, where = _qat_data(run, calib)
        if (
            labelled and run.label_split() is not None
        ):  # labels held back: the steps the whole split would give
            cfg = spread_budget(cfg, len(clips.labelled), clips.split_clips)
        student_fp32 = student if cfg.gamma > 0 else None
        data = f"{where}; calibration {calib.resolve()}"
        view = view_for(run.config, "student")
        if clips.unlabeled is not None:
            data += f"; unlabelled {clips.unlabeled.clips} clips"
        if source != "teacher":
            data += f"; distilling from {source} (the teacher guard's choice)"
        training = finetune_quantized(
            qat_model,
            teacher,
            student_fp32,
            clips.labelled,
            labelled,
            cfg,
            d,
            resume_path,
            resume,
            data,
            view,
            unlabeled=clips.unlabeled_set,
            unlabeled_ratio=run.config.unlabeled_ratio,
        )
        accuracy, test_clips = _evaluate_all(
            run, {"student_fp32": student, "ptq_int8": ptq_model, "qat_kd_int8": qat_model}, cfg, d
        )
        if not d.is_main:
            barrier(d)
            return None, None
        int8_path = save_int8_checkpoint(
            run.path / f"{INT8_NAME}.pt",
            qat_model,
            student_ckpt["config"],
            run.class_names,
            metrics={"test": accuracy["qat_kd_int8"]},
        )
        exports = _export_int8(run) if cfg.export else {}
        int8_mb = size_on_disk(Path(exports["openvino"])) / MIB if "openvino" in exports else None
        report = {
            "student": str(student_path),
            "teacher": str(teacher_path),
            "int8_checkpoint": str(int8_path),
            "settings": asdict(cfg),
            "calibration_set": calibration,
            "qat": dict(training, data=where, labelled=labelled and cfg.use_labels, distilled_from=source),
            "protocol": describe_protocol(run.protocol("student")),
            "test_clips": test_clips,
            "models": {
                "student_fp32": {
                    "accuracy": accuracy["student_fp32"],
                    "size_mb": state_dict_bytes(student.state_dict()) / MIB,
                },
                "ptq_int8": {"accuracy": accuracy["ptq_int8"], "size_mb": int8_mb},
                "qat_kd_int8": {"accuracy": accuracy["qat_kd_int8"], "size_mb": int8_mb},
            },
            "exports": exports,
            "float_point": float_summary(Path(exports["onnx"])) if "onnx" in exports else None,
        }
        write_json(run.path / "quant" / "report.json", report)
        resume_path.unlink(missing_ok=True)
        barrier(d)
        return report, format_report(report)
    finally:
        shutdown_distributed(d)
