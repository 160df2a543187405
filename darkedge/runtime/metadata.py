"""What an exported model says about itself: class names, input shape, how to feed it, where it came from.

A model file copied alone to another machine must still report action names and be fed clips the way it was
trained, so every export carries one metadata dict, built by `export_metadata`:

    ONNX        the graph's metadata_props (string key / value pairs)
    OpenVINO    the IR's rt_info, under a "darkedge" section
    TensorRT    <name>.engine.json beside the engine (an engine cannot hold it)

Both ONNX and OpenVINO store only strings (OpenVINO turns a list into its items joined by spaces and a boolean
into YES), so the text fields (TEXT_FIELDS) are stored as they are and every other field JSON-encoded
(`encode_metadata`); reading it back (`decode_metadata`) gives the dict that was written, exactly. `read_metadata` reads it from any model
file by suffix; for an export made before files described themselves it falls back to what RUN/export/manifest.json
and the run's config.json say. Fields a file cannot tell are absent; `Feeding.from_metadata` reads the feeding spec back
whole, with darkedge.feeding's defaults for what a file does not say.

Reading ONNX or OpenVINO metadata imports neither torch nor the data pipeline (a benchmark child timing an
export holds no torch); only a .pt checkpoint loads torch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from darkedge import __version__
from darkedge.errors import DarkedgeError
from darkedge.feeding import Feeding
from darkedge.names import BACKEND_BY_SUFFIX, CONFIG_FILE, INT8_KIND
from darkedge.run import Run, any_class_names, manifest_entry, open_run

METADATA_VERSION = 1
OPENVINO_SECTION = "darkedge"  # rt_info section of an OpenVINO IR
ENGINE_METADATA = ".json"  # a TensorRT engine's metadata: <engine file name> + this

# Fields whose value is a string, stored as it is; every other field is JSON-encoded, whatever its value.
TEXT_FIELDS = (
    "model",
    "precision",
    "format",
    "channels",
    "darkedge_version",
    "run",
    "exported",
    "checkpoint",
    "data",
    "built_from",
    "tensorrt_version",
)


def export_metadata(
    run: Run,
    model: str,
    precision: str,
    fmt: str,
    input_shape: tuple[int | None, ...] | list[int | None],
    checkpoint: Path,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata of one export of `run`'s `model`: what it is, how to feed it, where it came from.

    `input_shape` is the file's (B, 3, T, S, S), B None when the batch is free; `checkpoint` the file it was
    made from; `extra` adds format-specific facts (a TensorRT engine's version and batch range).
    """
    cfg, feeding = run.config, run.config.feeding(model)  # a student's own frames, step and crop
    batch, _, frames, size, _ = input_shape
    feeding = feeding.at(frames, size)  # at its input size
    return {
        "metadata_version": METADATA_VERSION,
        "model": model,
        "precision": precision,
        "format": fmt,
        "class_names": list(run.class_names),
        "input_shape": list(input_shape),
        "dynamic_batch": batch is None,
        **feeding.metadata(),  # mean / std are in the graph: feed decoded frames as they are
        "darkedge_version": __version__,
        "run": str(run.path.resolve()),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": Path(checkpoint).name,
        "data": cfg.data,
        "fold": cfg.fold,
        "protocol": run.protocol(model),
        **extra,
    }


def encode_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    """String key / value pairs for ONNX metadata_props and OpenVINO rt_info: text fields as they are, the rest
    as JSON (so a string in another field, "12" say, reads back as a string)."""
    return {k: str(v) if k in TEXT_FIELDS else json.dumps(v, ensure_ascii=False) for k, v in metadata.items()}


def decode_metadata(stored: Mapping[str, str], path: str | os.PathLike) -> dict[str, Any]:
    """The dict `encode_metadata` was given, or {} when `stored` is not darkedge's (another tool's properties);
    a value that should be JSON and is not is a one-line error."""
    if "metadata_version" not in stored:
        return {}
    metadata: dict[str, Any] = {}
    for key, value in stored.items():
        if key in TEXT_FIELDS:
            metadata[key] = value
            continue
        try:
            metadata[key] = json.loads(value)
        except ValueError:
            raise DarkedgeError(
                f"{path}: metadata field {key!r} is not valid JSON ({value[:60]!r})"
            ) from None
    return metadata


def engine_metadata_path(engine: str | os.PathLike) -> Path:
    """Where a TensorRT engine's metadata lives: student_int8.engine -> student_int8.engine.json."""
    engine = Path(engine)
    return engine.with_name(engine.name + ENGINE_METADATA)


def stored_onnx(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise DarkedgeError(f"{path}: not an ONNX model ({str(e).splitlines()[0][:120]})") from None
    return {prop.key: prop.value for prop in model.metadata_props}


def stored_openvino(model: Any) -> dict[str, str]:
    """The darkedge section of a read OpenVINO model's rt_info (values are strings once saved and read)."""
    if not model.has_rt_info([OPENVINO_SECTION]):
        return {}
    return {k: str(v) for k, v in model.get_rt_info([OPENVINO_SECTION]).value.items()}


def stored_engine(path: Path) -> dict[str, Any] | None:
    """The JSON beside a TensorRT engine, or None when there is none."""
    json_path = engine_metadata_path(path)
    if not json_path.is_file():
        return None
    try:
        metadata = json.loads(json_path.read_text())
    except (OSError, ValueError) as e:
        raise DarkedgeError(f"{json_path}: unreadable engine metadata ({type(e).__name__})") from None
    if not isinstance(metadata, dict):
        raise DarkedgeError(f"{json_path}: engine metadata is not a JSON object")
    return metadata


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of any model file (.onnx, .xml, .engine, .pt), by its suffix; see the module docstring."""
    path = Path(path)
    backend = BACKEND_BY_SUFFIX.get(path.suffix)
    if backend is None:
        raise DarkedgeError(
            f"{path}: unknown model format '{path.suffix}' (expected one of {', '.join(BACKEND_BY_SUFFIX)})"
        )
    if not path.is_file():
        raise DarkedgeError(f"{path}: no such model file")
    if backend == "torch":
        from darkedge.checkpoint import load_checkpoint

        return checkpoint_metadata(load_checkpoint(path), path)
    if backend == "onnxruntime":
        return own_or_run_metadata(decode_metadata(stored_onnx(path), path), path)
    if backend == "openvino":
        import openvino as ov

        try:
            model = ov.Core().read_model(str(path))
        except Exception as e:  # a broken IR raises RuntimeError with a multi-line message
            raise DarkedgeError(f"{path}: OpenVINO cannot read it ({str(e).splitlines()[0][:160]})") from None
        return own_or_run_metadata(decode_metadata(stored_openvino(model), path), path)
    return own_or_run_metadata(stored_engine(path) or {}, path)


def own_or_run_metadata(metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    """A file's own metadata, checked; or, for an export that has none, what its run directory says."""
    if "metadata_version" not in metadata:
        return check_metadata(from_run_directory(path), path)
    return check_metadata(metadata, path)


def from_run_directory(path: Path) -> dict[str, Any]:
    """What an export made before files described themselves is known by: its manifest entry (or, for an engine
    built by hand, the class names of the other exports beside it) and the config.json of the run it sits in
    (sampling, and class names when no manifest names them)."""
    entry = manifest_entry(path)
    metadata = {
        k: entry[k] for k in ("model", "precision", "format", "input_shape", "class_names") if k in entry
    }
    if not metadata.get("class_names"):
        names = any_class_names(path.parent)  # every file in a run's export folder comes from the same run
        if names:
            metadata["class_names"] = names
    run = run_beside(path)
    if run is not None:
        metadata.update(run_feeding(run, metadata.get("model", "")))
        metadata.setdefault("class_names", list(run.class_names))
    return metadata


def run_beside(path: Path) -> Run | None:
    """The run directory a model file sits in (RUN/x.pt or RUN/export/x.*), or None."""
    for folder in (path.parent, path.parent.parent):
        if (folder / CONFIG_FILE).is_file():
            try:
                return open_run(folder)
            except DarkedgeError:
                continue
    return None


def run_feeding(run: Run, model: str) -> dict[str, Any]:
    """How `run` fed `model` (a stage or export name; the teacher's feeding for others) clips, and where it came
    from, as metadata fields."""
    cfg = run.config
    return {
        **{k: v for k, v in cfg.feeding(model).metadata().items() if k != "frames"},
        "run": str(run.path.resolve()),
        "data": cfg.data,
        "fold": cfg.fold,
        "protocol": run.protocol(model),
    }


def checkpoint_metadata(ckpt: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A darkedge checkpoint's metadata: its class names and input shape, and its run's sampling when it sits in one."""
    from darkedge.models import model_input_shape

    _, frames, size, _ = shape = model_input_shape(ckpt)
    int8 = ckpt.get("kind") == INT8_KIND
    metadata: dict[str, Any] = {
        "model": "student" if int8 else path.stem,
        "precision": "int8" if int8 else "fp32",
        "class_names": list(ckpt.get("class_names") or []),
        "input_shape": [None, *shape],
        "dynamic_batch": True,
        "frames": frames,
        "crop": size,
        "darkedge_version": str(ckpt.get("darkedge_version", "")),
        "checkpoint": path.name,
    }
    run = run_beside(path)
    if run is not None:
        fed = run_feeding(run, metadata["model"])
        metadata.update({**fed, **Feeding.from_metadata(fed, frames, size).metadata()})  # at its input size
    return check_metadata(metadata, path)


def check_metadata(metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    """`metadata` itself, after a one-line error for a field a model could not be fed or named by."""

    def bad(key: str, want: str) -> DarkedgeError:
        return DarkedgeError(f"{path}: metadata field {key!r} should be {want}, not {metadata[key]!r:.80}")

    names = metadata.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise bad("class_names", "a list of strings")
    shape = metadata.get("input_shape")
    if shape is not None and not (
        isinstance(shape, list) and len(shape) == 5 and all(d is None or _positive(d) for d in shape)
    ):
        raise bad("input_shape", "(B, 3, T, H, W) with B free (null) or positive")
    for key in ("frames", "frame_step", "resize", "crop"):
        if metadata.get(key) is not None and not _positive(metadata[key]):
            raise bad(key, "a positive integer")
    return metadata


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
