"""`darkedge export`: any model of a run to ONNX, OpenVINO IR or a TensorRT engine, listed in a manifest.

Files go to RUN/export/<model>_<precision>.<ext> (student_int8.xml, student_fp32.onnx, teacher_fp32.onnx ...).
Each file describes itself (darkedge.runtime.metadata: class names, input shape, frames, frame step, resize and
crop, where it came from), so it works when copied alone; RUN/export/manifest.json indexes the run's exports:
model, precision, format, file, input shape, class names. EXPORTERS holds one function per format; each loads
the run's model, writes its file with its metadata and records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from darkedge.errors import DarkedgeError
from darkedge.export import tensorrt
from darkedge.export.onnx import export_onnx, export_onnx_int8
from darkedge.export.openvino import export_openvino
from darkedge.fileio import write_json
from darkedge.models import load_model, model_input_shape
from darkedge.models.int8_checkpoint import load_run_int8_student
from darkedge.names import (
    EXPORT_MODELS,
    FORMAT_SUFFIXES,
    FORMATS,
    INT8_NAME,
    PRECISIONS,
    STAGE_KINDS,
    TEACHER_KINDS,
)
from darkedge.run import MANIFEST, Run, read_manifest
from darkedge.runtime.metadata import export_metadata


@dataclass(frozen=True)
class ExportTarget:
    """One file to produce: which run model, at which precision, in which format."""

    model: str  # a checkpoint name in the run: student, teacher, raw, two_stream
    precision: str
    format: str

    @property
    def file_name(self) -> str:
        return f"{self.model}_{self.precision}{FORMAT_SUFFIXES[self.format]}"


def resolve_target(model: str, fmt: str, precision: str | None) -> ExportTarget:
    """Check the model / format / precision combination; student_int8 means the student at int8."""
    if model not in EXPORT_MODELS:
        raise DarkedgeError(f"--model {model}: unknown, expected one of {', '.join(EXPORT_MODELS)}")
    if fmt not in FORMATS:
        raise DarkedgeError(f"--format {fmt}: unknown, expected one of {', '.join(FORMATS)}")
    if model == INT8_NAME:
        if precision not in (None, "int8"):
            raise DarkedgeError(
                f"--model {INT8_NAME} --precision {precision}: the INT8 student exports at int8 only"
            )
        return ExportTarget("student", "int8", fmt)
    precision = precision or "fp32"
    if precision not in PRECISIONS:
        raise DarkedgeError(f"--precision {precision}: unknown, expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and model != "student":
        raise DarkedgeError(
            f"--model {model} --precision int8: only the student has an INT8 version (darkedge quantize)"
        )
    return ExportTarget(model, precision, fmt)


def source_checkpoint(run: Run, target: ExportTarget) -> Path:
    """The checkpoint a target is made from: RUN/<model>.pt, or RUN/student_int8.pt for int8."""
    return run.checkpoint(INT8_NAME if target.precision == "int8" else target.model)


def load_run_model(run: Run, target: ExportTarget) -> tuple[nn.Module, tuple[int, ...]]:
    """The PyTorch model a target exports (the fake-quantized student for int8) and its input shape (1, 3, T, S, S)."""
    if target.precision == "int8":
        model, ckpt = load_run_int8_student(run)
    else:
        kind = TEACHER_KINDS if target.model == "teacher" else STAGE_KINDS[target.model]
        model, ckpt = load_model(source_checkpoint(run, target), kind=kind)
    return model.eval(), (1, *model_input_shape(ckpt))


def metadata_for(
    run: Run, target: ExportTarget, input_shape: tuple[int | None, ...], **extra: Any
) -> dict[str, Any]:
    """The metadata the file of `target` carries (darkedge.runtime.metadata.export_metadata)."""
    checkpoint = source_checkpoint(run, target)
    return export_metadata(
        run, target.model, target.precision, target.format, input_shape, checkpoint, **extra
    )


def record_export(
    run: Run, target: ExportTarget, path: Path, input_shape: tuple[int, ...], **details: Any
) -> None:
    """Add (or replace) the manifest entry of an exported file."""
    export_dir = path.parent
    manifest = read_manifest(export_dir)
    manifest["files"][path.name] = {
        "file": path.name,
        "model": target.model,
        "precision": target.precision,
        "format": target.format,
        "input_shape": list(input_shape),
        "class_names": run.class_names,
        **details,
    }
    write_json(export_dir / MANIFEST, manifest)


def to_onnx(run: Run, target: ExportTarget) -> Path:
    """ONNX with a free batch dimension: FP32, FP16 inside (float32 input and logits), or the Q/DQ INT8 graph."""
    net, shape = load_run_model(run, target)
    out = run.path / "export" / target.file_name
    metadata = metadata_for(run, target, (None, *shape[1:]))
    if target.precision == "int8":
        export_onnx_int8(net, shape, out, metadata)
    else:
        export_onnx(net, shape, out, target.precision, metadata)
    record_export(run, target, out, (None, *shape[1:]))
    return out


def to_openvino(run: Run, target: ExportTarget) -> Path:
    """OpenVINO IR (.xml + .bin) with a static input shape."""
    net, shape = load_run_model(run, target)
    out = run.path / "export" / target.file_name
    export_openvino(net, shape, out, target.precision, metadata_for(run, target, shape))
    record_export(run, target, out, shape)
    return out


def to_tensorrt(run: Run, target: ExportTarget) -> Path:
    """A TensorRT engine built from the ONNX export its TensorRT version needs (made and recorded on the way)."""
    trt = tensorrt.import_tensorrt()  # fail before any work when TensorRT is absent
    plan = tensorrt.plan_build(tensorrt.tensorrt_major(trt), target.precision)
    onnx_path = to_onnx(run, ExportTarget(target.model, plan.onnx_precision, "onnx"))
    out = run.path / "export" / target.file_name
    input_shape = read_manifest(out.parent)["files"][onnx_path.name]["input_shape"]
    version = str(trt.__version__)
    metadata = metadata_for(
        run,
        target,
        input_shape,
        tensorrt_version=version,
        max_batch=tensorrt.MAX_BATCH,
        built_from=onnx_path.name,
    )
    tensorrt.build_engine(onnx_path, out, target.precision, metadata=metadata)
    record_export(run, target, out, input_shape, tensorrt_version=version)
    return out


def to_torch_tensorrt(run: Run, target: ExportTarget) -> Path:
    """The desktop-GPU option of the tensorrt format: torch-tensorrt compiles the PyTorch model to an
    ExportedProgram (<model>_<precision>.ep) instead of building an engine from the ONNX."""
    net, shape = load_run_model(run, target)
    out = run.path / "export" / f"{target.model}_{target.precision}.ep"
    tensorrt.compile_torch_tensorrt(net, shape, out, target.precision)
    record_export(run, target, out, shape, compiler="torch-tensorrt")
    return out


EXPORTERS = {"onnx": to_onnx, "openvino": to_openvino, "tensorrt": to_tensorrt}  # one function per format


def export_model(
    run: Run, model: str, fmt: str, precision: str | None = None, torch_tensorrt: bool = False
) -> Path:
    """Export one model of `run` and record it in the manifest; returns the written file.

    With `torch_tensorrt` (format tensorrt, desktop GPUs), torch-tensorrt compiles the model instead.
    """
    target = resolve_target(model, fmt, precision)
    if torch_tensorrt and fmt != "tensorrt":
        raise DarkedgeError(f"--torch-tensorrt goes with --format tensorrt, not {fmt}")
    return (to_torch_tensorrt if torch_tensorrt else EXPORTERS[fmt])(run, target)
