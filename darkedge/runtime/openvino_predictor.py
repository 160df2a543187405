"""OpenVINO predictor (.xml IR on the CPU plugin, latency hint, a fixed number of inference threads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkedge.errors import DarkedgeError, require
from darkedge.runtime.metadata import decode_metadata, own_or_run_metadata, stored_openvino
from darkedge.runtime.predictor import Predictor, static_dims


class OpenVinoPredictor(Predictor):
    """Compiles the IR once; `batch` reshapes a static batch-1 IR to another batch size before compiling.

    `max_batch` instead makes the batch free between 1 and max_batch (an OpenVINO dynamic dimension), so
    that `darkedge infer` runs however many windows are ready in one call without padding; an IR whose graph
    fixes its batch keeps it (the caller sees the fixed batch in input_shape).
    """

    backend = "openvino"

    def __init__(
        self, path: Path, threads: int | None = None, batch: int | None = None, max_batch: int | None = None
    ):
        ov = require("openvino", path)
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as e:  # a broken IR raises RuntimeError with a multi-line message
            raise DarkedgeError(f"{path}: OpenVINO cannot read it ({str(e).splitlines()[0][:160]})") from None
        if batch is not None:
            shape = model.input(0).get_partial_shape()
            shape[0] = batch
            try:
                model.reshape({model.input(0): shape})
            except RuntimeError:
                raise DarkedgeError(
                    f"{path}: the IR fixes its batch size inside the graph and cannot be reshaped to batch {batch}"
                ) from None
        elif max_batch is not None and max_batch > 1:
            shape = model.input(0).get_partial_shape()
            shape[0] = ov.Dimension(1, max_batch)
            try:
                model.reshape({model.input(0): shape})
            except RuntimeError:
                max_batch = None  # the batch is fixed inside the graph: keep it
        # f32: on CPUs with bf16 units the plugin would otherwise run an FP32 IR in bf16, silently.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        dims = [d.get_length() if d.is_static else None for d in model.input(0).get_partial_shape()]
        metadata = own_or_run_metadata(decode_metadata(stored_openvino(model), path), path)
        super().__init__(path, static_dims(dims), metadata, threads)
        if self.input_shape[0] is None:
            self.max_batch = max_batch

    def _run(self, clips: np.ndarray) -> np.ndarray:
        self.request.infer({0: clips}, share_inputs=True)
        return self.request.get_output_tensor(0).data.copy()
