"""TensorRT predictor (.engine, TensorRT 10+ name-based tensor API, buffers as CUDA torch tensors).

Engines are built on the box that runs them (deploy/). This file cannot run on the CPU-only machine it was
written on: it follows the TensorRT 10 Python API (num_io_tensors, set_tensor_address, execute_async_v3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkedge.errors import DarkedgeError, require
from darkedge.runtime.metadata import read_metadata
from darkedge.runtime.predictor import Predictor, static_dims


class TensorRtPredictor(Predictor):
    """Deserialises the engine; each call copies the clips to the GPU, enqueues, and copies logits back."""

    backend = "tensorrt"

    def __init__(self, path: Path, threads: int | None = None):
        trt = require("tensorrt", path)
        self.torch = require("torch", path)
        if not self.torch.cuda.is_available():
            raise DarkedgeError(f"{path}: TensorRT needs a CUDA GPU and a CUDA build of torch")
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise DarkedgeError(f"{path}: TensorRT cannot deserialise it (built by another TensorRT or GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.input_name, self.output_name = inputs[0], next(n for n in names if n not in inputs)
        dtypes = {
            trt.float32: self.torch.float32,
            trt.float16: self.torch.float16,
            trt.bfloat16: self.torch.bfloat16,
        }
        self.output_dtype = dtypes[self.engine.get_tensor_dtype(self.output_name)]
        self.stream = self.torch.cuda.Stream()
        super().__init__(
            path,
            static_dims(list(self.engine.get_tensor_shape(self.input_name))),
            read_metadata(path),  # <engine>.engine.json beside it
            threads,
        )
        if self.input_shape[0] is None:  # a free batch: the optimisation profile's maximum bounds it
            self.max_batch = int(self.engine.get_tensor_profile_shape(self.input_name, 0)[2][0])

    def _run(self, clips: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(clips).to("cuda")
            self.context.set_input_shape(self.input_name, tuple(x.shape))
            out_shape = tuple(self.context.get_tensor_shape(self.output_name))
            out = torch.empty(out_shape, dtype=self.output_dtype, device="cuda")
            self.context.set_tensor_address(self.input_name, x.data_ptr())
            self.context.set_tensor_address(self.output_name, out.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise DarkedgeError(f"{self.path}: TensorRT execution failed")
        self.stream.synchronize()
        return out.float().cpu().numpy()
