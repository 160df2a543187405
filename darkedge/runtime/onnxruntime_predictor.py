"""ONNX Runtime predictor (.onnx, CPU execution provider, a fixed number of intra-op threads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkedge.errors import DarkedgeError, require
from darkedge.runtime.metadata import decode_metadata, own_or_run_metadata
from darkedge.runtime.predictor import Predictor, static_dims


class OnnxRuntimePredictor(Predictor):
    """One InferenceSession; graph optimisations on, one inter-op thread (one model, one request)."""

    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None):
        ort = require("onnxruntime", path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise DarkedgeError(
                f"{path}: onnxruntime cannot load it ({str(e).splitlines()[0][:160]})"
            ) from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        stored = self.session.get_modelmeta().custom_metadata_map  # the graph's metadata_props
        metadata = own_or_run_metadata(decode_metadata(stored, path), path)
        super().__init__(path, static_dims(model_input.shape), metadata, threads)

    def _run(self, clips: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: clips})[0]
