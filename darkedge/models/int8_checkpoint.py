"""INT8 student checkpoints: NNCF's quantizer placement as plain data, so they load with weights_only=True.

`nncf.torch.get_config` returns enums and tuples; a darkedge checkpoint holds only plain data, so they are
tagged on the way in (`{"__enum__": ...}`, `{"__tuple__": ...}`) and rebuilt on the way out. Only enum classes
from NNCF's own modules are rebuilt: a stranger's checkpoint cannot name an arbitrary class.

`darkedge quantize` (darkedge.quant) writes these checkpoints; they live here, with the other models, because
export and the runtimes load an INT8 student as they load any model.
"""

from __future__ import annotations

import copy
import enum
import importlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from darkedge.checkpoint import load_checkpoint, save_checkpoint
from darkedge.errors import DarkedgeError
from darkedge.models import build_model
from darkedge.names import INT8_KIND, INT8_NAME, STAGE_KINDS


def to_plain(value: Any) -> Any:
    """NNCF config -> dicts, lists, str, int, float, bool, None (enums and tuples tagged)."""
    if isinstance(value, enum.Enum):
        cls = type(value)
        return {"__enum__": f"{cls.__module__}:{cls.__qualname__}", "value": value.value}
    if isinstance(value, tuple):
        return {"__tuple__": [to_plain(v) for v in value]}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"NNCF config holds a {type(value).__name__}, which a checkpoint cannot store")


def from_plain(value: Any) -> Any:
    """The inverse of `to_plain`; enum classes are imported only from nncf.* modules."""
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(from_plain(v) for v in value["__tuple__"])
    if "__enum__" in value:
        module_name, _, qualname = value["__enum__"].partition(":")
        if not (module_name == "nncf" or module_name.startswith("nncf.")):
            raise ValueError(f"enum {value['__enum__']!r} is not an NNCF type")
        cls = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part, None)
        # Only an NNCF enum class is ever called: a name that leads to a function (os.system through some
        # nncf module's imports, say) must not run.
        if not (isinstance(cls, type) and issubclass(cls, enum.Enum) and cls.__module__.startswith("nncf")):
            raise ValueError(f"{value['__enum__']!r} is not an NNCF enum")
        return cls(value["value"])
    return {k: from_plain(v) for k, v in value.items()}


def nncf_config_of(qmodel: nn.Module) -> dict[str, Any]:
    """NNCF's description of where a fake-quantized model's quantizers sit, as plain data."""
    import nncf.torch

    return to_plain(nncf.torch.get_config(qmodel))


def save_int8_checkpoint(
    path: str | os.PathLike,
    qmodel: nn.Module,
    config: dict[str, Any],
    class_names: list[str],
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save a fake-quantized classifier: its state dict plus NNCF's config (plain data) in `extra`."""
    nncf_config = nncf_config_of(qmodel)
    return save_checkpoint(
        path,
        kind=INT8_KIND,
        config=config,
        state_dict=qmodel.state_dict(),
        class_names=class_names,
        metrics=metrics,
        extra={"nncf_config": nncf_config},
    )


def restore_int8_model(path: str | os.PathLike, ckpt: dict[str, Any], model: nn.Module) -> nn.Module:
    """Insert the checkpoint's quantizers into (a copy of) the FP32 `model` and load the INT8 weights."""
    import nncf.torch

    try:
        nncf_config = from_plain(ckpt["extra"]["nncf_config"])
    except (KeyError, TypeError, ValueError, AttributeError, ImportError) as e:
        raise DarkedgeError(f"{path}: no usable NNCF config in the INT8 checkpoint ({e})") from None
    try:
        qmodel = nncf.torch.load_from_config(copy.deepcopy(model).cpu(), nncf_config)
        qmodel.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, ValueError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise DarkedgeError(f"{path}: INT8 weights do not fit this architecture ({first})") from None
    return qmodel.eval()


def load_int8_model(
    path: str | os.PathLike, expect_config: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the classifier its config describes, then restore the quantizers and INT8 weights.

    With `expect_config` (the FP32 student's), a checkpoint of another architecture is a one-line error.
    """
    ckpt = load_checkpoint(path, kind=INT8_KIND)
    if expect_config is not None and ckpt["config"] != expect_config:
        differ = sorted(
            k
            for k in set(ckpt["config"]) | set(expect_config)
            if ckpt["config"].get(k) != expect_config.get(k)
        )
        raise DarkedgeError(
            f"{path}: INT8 checkpoint of another architecture than the run's student ({', '.join(differ)} differ); "
            "re-run `darkedge quantize`"
        )
    try:
        model = build_model("classifier", ckpt["config"], load_pretrained=False)
    except (KeyError, TypeError, ValueError, DarkedgeError) as e:
        raise DarkedgeError(f"{path}: cannot build the classifier its config describes ({e})") from None
    return restore_int8_model(path, ckpt, model), ckpt


def load_run_int8_student(run) -> tuple[nn.Module, dict[str, Any]]:
    """RUN/student_int8.pt, checked against the run's FP32 student; one-line error naming `quantize` if absent."""
    path = run.path / f"{INT8_NAME}.pt"
    if not path.is_file():
        raise DarkedgeError(
            f"{path}: no such checkpoint; make it with `darkedge quantize --calib calibration/ --run {run.path}`"
        )
    student = run.path / "student.pt"
    expect = load_checkpoint(student, kind=STAGE_KINDS["student"])["config"] if student.is_file() else None
    return load_int8_model(path, expect)


def state_dict_bytes(state_dict: dict[str, torch.Tensor]) -> int:
    """Bytes of all tensors in a state dict, as stored."""
    return sum(t.numel() * t.element_size() for t in state_dict.values())
