"""PyTorch (eager) predictor for a darkedge checkpoint: the reference every export is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from darkedge.checkpoint import load_checkpoint
from darkedge.models import load_model, model_input_shape
from darkedge.models.int8_checkpoint import load_int8_model
from darkedge.names import INT8_KIND
from darkedge.runtime.metadata import checkpoint_metadata
from darkedge.runtime.predictor import Predictor, require


class TorchPredictor(Predictor):
    """Loads a checkpoint (darkedge.models.load_model, or the quantizer's INT8 student) and runs it under no_grad."""

    backend = "torch"

    def __init__(self, path: Path, threads: int | None = None, device: str = "cpu"):
        self.torch = require("torch", path)
        if threads:
            self.torch.set_num_threads(threads)
        if load_checkpoint(path).get("kind") == INT8_KIND:  # fake-quantized (NNCF) student
            model, ckpt = load_int8_model(path)
        else:
            model, ckpt = load_model(path)
        metadata = checkpoint_metadata(ckpt, path)
        self.model = model.eval().to(device)
        self.device = device
        super().__init__(path, (None, *model_input_shape(ckpt)), metadata, threads)

    def _run(self, clips: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            logits = self.model(self.torch.from_numpy(clips).to(self.device))
        return logits.float().cpu().numpy()
