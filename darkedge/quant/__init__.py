"""INT8 students: calibration sets, NNCF post-training quantization, quantization-aware distillation, reports."""

from darkedge.models.int8_checkpoint import load_int8_model, load_run_int8_student, save_int8_checkpoint
from darkedge.names import INT8_KIND
from darkedge.quant.calib import build_calibration_set, calibration_batches, open_calibration
from darkedge.quant.command import quantize_run
from darkedge.quant.ptq import quantize_ptq
from darkedge.quant.qat import QatConfig, finetune_quantized

__all__ = [
    "INT8_KIND",
    "QatConfig",
    "build_calibration_set",
    "calibration_batches",
    "finetune_quantized",
    "load_int8_model",
    "load_run_int8_student",
    "open_calibration",
    "quantize_ptq",
    "quantize_run",
    "save_int8_checkpoint",
]
