"""`darkedge export --check`: every exported model against its PyTorch original on the same clips.

For each file in RUN/export/manifest.json whose runtime is installed: the largest logit difference and how
often the top-1 class agrees, and whether the metadata the file carries agrees with the run. INT8 exports are
compared with the fake-quantized PyTorch student, FP16 ones with the FP32 model.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np
import torch

from darkedge.errors import DarkedgeError
from darkedge.export.command import ExportTarget, load_run_model
from darkedge.names import BACKEND_BY_SUFFIX, BACKENDS
from darkedge.run import Run, library_versions, read_manifest
from darkedge.runtime import backend_for, load_predictor
from darkedge.runtime.metadata import read_metadata

log = logging.getLogger(__name__)


def runtime_versions() -> dict[str, str]:
    """Installed version of each runtime (absent ones left out)."""
    return library_versions(BACKENDS)


def check_clips(run: Run, model: str, num_clips: int, input_shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """Up to `num_clips` test clips of the run (first readable ones) sampled as `model` is fed, or seeded random
    clips without test data."""
    try:
        dataset = run.dataset("test", model, num_clips=1, num_crops=1)
        clips = []
        for i in range(len(dataset)):
            item = dataset[i]
            if item is not None:
                clips.append(item[0].numpy())
            if len(clips) == num_clips:
                break
        if clips:
            return np.stack(clips), f"{len(clips)} test clips"
    except DarkedgeError as error:
        log.warning("export --check: %s; using random clips", error)
    rng = np.random.default_rng(0)
    return rng.random((num_clips, *input_shape[1:]), dtype=np.float32), f"{num_clips} random clips"


def check_exports(run: Run, num_clips: int = 4) -> tuple[list[dict[str, Any]], str]:
    """Run every exported file and its PyTorch model on the same clips (each model's own sampling); (one row per
    file, what clips were used)."""
    entries = read_manifest(run.path / "export")["files"]
    if not entries:
        raise DarkedgeError(f"{run.path / 'export'}: nothing exported yet; make files with `darkedge export`")
    versions = runtime_versions()
    references: dict[tuple[str, str], np.ndarray] = {}
    clips: dict[str, np.ndarray] = {}  # by model: a student may take other clips than the teacher
    clips_text = ""
    rows = []
    for name, entry in sorted(entries.items()):
        path = run.path / "export" / name
        if path.suffix not in BACKEND_BY_SUFFIX:  # e.g. a torch-tensorrt .ep program
            rows.append({"file": name, "runtime": "-", "status": "skipped: no darkedge runtime loads it"})
            continue
        backend = backend_for(path)
        row = {"file": name, "runtime": f"{backend} {versions.get(backend, '')}".strip()}
        rows.append(row)
        if importlib.util.find_spec(backend) is None:
            row["status"] = f"skipped: {backend} is not installed"
            continue
        try:
            metadata = read_metadata(path)  # the file's own, or (an older export) its manifest entry
        except DarkedgeError as error:
            row["status"] = f"failed: {error}"
            continue
        model_name = metadata.get("model", entry["model"])
        row["metadata"] = metadata_status(metadata, run, model_name)
        reference_precision = "int8" if metadata.get("precision", entry["precision"]) == "int8" else "fp32"
        key = (model_name, reference_precision)
        if key not in references:
            model, shape = load_run_model(run, ExportTarget(model_name, reference_precision, "onnx"))
            if model_name not in clips:
                clips[model_name], clips_text = check_clips(run, model_name, num_clips, shape)
            with torch.no_grad():
                references[key] = np.concatenate(
                    [model(torch.from_numpy(c[None])).numpy() for c in clips[model_name]]
                )
        try:
            predictor = load_predictor(path, backend)
            logits = np.concatenate([predictor.predict(c[None]) for c in clips[model_name]])
        except DarkedgeError as error:
            row["status"] = f"failed: {error}"
            continue
        expected = references[key]
        row["max_logit_diff"] = float(np.abs(logits - expected).max())
        row["top1_agreement"] = float((logits.argmax(1) == expected.argmax(1)).mean())
        row["status"] = "ok"
    return rows, f"{clips_text}; " + ", ".join(f"{k} {v}" for k, v in versions.items())


def metadata_status(metadata: dict[str, Any], run: Run, model: str) -> str:
    """ "ok" when the file's own metadata matches how the run feeds `model` (class names, frames, frame step, crop),
    what differs when it does not, or "none" for an export made before files described themselves."""
    if "metadata_version" not in metadata:
        return "none (re-export)"
    feeding = run.config.feeding(model)
    expected = {
        "class_names": run.class_names,
        "frames": feeding.frames,
        "frame_step": feeding.frame_step,
        "crop": feeding.crop,
    }
    differ = [key for key, value in expected.items() if metadata.get(key) != value]
    return f"differs: {', '.join(differ)}" if differ else "ok"


def format_check(rows: list[dict[str, Any]], summary: str) -> str:
    """A terminal table of `check_exports` rows."""
    header = ("file", "runtime", "max |logit diff|", "top-1 agree", "metadata", "status")
    table = [header] + [
        (
            r["file"],
            r["runtime"],
            f"{r['max_logit_diff']:.5f}" if "max_logit_diff" in r else "-",
            f"{100 * r['top1_agreement']:.1f} %" if "top1_agreement" in r else "-",
            r.get("metadata", "-"),
            r["status"],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, summary])
