"""Per-layer precision of a TensorRT engine, from the layer JSON that `trtexec --exportLayerInfo` writes.

    python3 deploy/layer_precision.py student_int8.engine.layers.json

The engine must be built with --profilingVerbosity=detailed (build_engine.sh does). Counts the layers by the
data type of their outputs and lists the layers left in FP32, the ones to look at when INT8 is no faster.
Reads both the TensorRT 10 schema ("Format/Datatype" strings) and the TensorRT 11 one ("DataType" fields).
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

PRECISIONS = (("INT8", r"int8"), ("FP16", r"fp16|half"), ("FP32", r"fp32|float"), ("INT32", r"int32"))


def precision_of(descriptor: dict | str) -> str:
    """INT8 / FP16 / FP32 / INT32 / other, from one output tensor's description."""
    if isinstance(descriptor, dict):
        text = " ".join(str(descriptor.get(key, "")) for key in ("DataType", "Format/Datatype", "Format"))
    else:
        text = str(descriptor)
    for name, pattern in PRECISIONS:
        if re.search(pattern, text, re.IGNORECASE):
            return name
    return "other"


def main(path: Path) -> None:
    info = json.loads(path.read_text())
    layers = info.get("Layers", info) if isinstance(info, dict) else info
    counts: collections.Counter[str] = collections.Counter()
    fp32_layers = []
    for layer in layers:
        if not isinstance(layer, dict):
            sys.exit(f"{path}: layer names only: rebuild the engine with --profilingVerbosity=detailed")
        outputs = layer.get("Outputs") or []
        precision = precision_of(outputs[0]) if outputs else "other"
        counts[precision] += 1
        if precision == "FP32":
            fp32_layers.append(f"  {layer.get('LayerType', '?'):<24} {layer.get('Name', '?')}")
    total = sum(counts.values())
    print(f"{path}: {total} layers")
    for name, count in counts.most_common():
        print(f"  {name:<6} {count:>5}  ({100 * count / total:.0f} %)")
    if fp32_layers:
        print("layers with FP32 outputs:")
        print("\n".join(fp32_layers))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} ENGINE.layers.json")
    main(Path(sys.argv[1]))
