"""PyTorch (eager) predictor for a darkedge checkpoint: the reference every export is checked against, and the way
to run a model on a GPU without an export: FP32, or FP16 / bf16 autocast, optionally torch.compile'd or replayed as
a CUDA graph.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from darkedge.checkpoint import load_checkpoint
from darkedge.errors import require
from darkedge.models import load_model, model_input_shape
from darkedge.models.int8_checkpoint import load_int8_model
from darkedge.names import INT8_KIND
from darkedge.runtime.metadata import checkpoint_metadata
from darkedge.runtime.predictor import Predictor
from darkedge.runtime.torch_settings import TorchSettings, check_torch_settings


class TorchPredictor(Predictor):
    """Loads a checkpoint (darkedge.models.load_model, or the quantizer's INT8 student) and runs it under no_grad."""

    backend = "torch"

    def __init__(self, path: Path, threads: int | None = None, settings: TorchSettings | None = None):
        self.torch = require("torch", path)
        settings = settings or TorchSettings()
        check_torch_settings(settings)
        if threads:
            self.torch.set_num_threads(threads)
        if load_checkpoint(path).get("kind") == INT8_KIND:  # fake-quantized (NNCF) student
            model, ckpt = load_int8_model(path)
        else:
            model, ckpt = load_model(path)
        self.settings = settings
        self.device = settings.device
        self.model = model.eval().to(self.device)
        self.forward = self.torch.compile(self.model) if settings.compile else self.model
        self.graphs: dict[tuple[int, ...], tuple] = {}  # input shape -> (graph, static input, static output)
        metadata = checkpoint_metadata(ckpt, path)
        super().__init__(path, (None, *model_input_shape(ckpt)), metadata, threads)

    def _autocast(self):
        """Autocast to the settings' precision on their device, or nothing for FP32. Under CUDA graphs without
        autocast's cache of cast weights: the cache is freed when the context exits, under a graph that uses it."""
        if self.settings.precision == "fp32":
            return contextlib.nullcontext()
        dtype = self.torch.float16 if self.settings.precision == "fp16" else self.torch.bfloat16
        device_type = self.torch.device(self.device).type
        return self.torch.autocast(device_type, dtype=dtype, cache_enabled=not self.settings.cuda_graphs)

    def predict_tensor(self, clips):
        """Logits for a clip tensor already on the device (no copies, no sync: the caller times or waits)."""
        self.check_shape(tuple(clips.shape))
        if self.settings.cuda_graphs:
            return self._replay(clips)
        with self.torch.no_grad(), self._autocast():
            return self.forward(clips)

    def _replay(self, clips):
        """Run through the CUDA graph captured for this input shape (captured on first use, after warm-up)."""
        torch = self.torch
        key = tuple(clips.shape)
        if key not in self.graphs:
            static_in = clips.clone()
            stream = torch.cuda.Stream(device=self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream), torch.no_grad(), self._autocast():
                for _ in range(3):  # warm-up on a side stream: cuDNN / cuBLAS choose their kernels here
                    self.forward(static_in)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.no_grad(), self._autocast():
                static_out = self.forward(static_in)
            self.graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self.graphs[key]
        static_in.copy_(clips)
        graph.replay()
        return static_out

    def _run(self, clips: np.ndarray) -> np.ndarray:
        x = self.torch.from_numpy(clips).to(self.device)
        return self.predict_tensor(x).float().cpu().numpy()
