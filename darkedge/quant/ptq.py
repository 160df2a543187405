"""Post-training quantization with NNCF: the INT8 starting point that quantization-aware distillation refines.

PERFORMANCE makes activations symmetric (zero-point 0), which TensorRT requires. Models with transformer blocks
(ViT, BERT head) are quantized as TRANSFORMER, which keeps LayerNorm, Softmax and GELU in floating point; conv
nets as NNCF's default CNN type, which also quantizes the residual adds (the INT8 R(2+1)D student runs 5 % faster
in OpenVINO than quantized as TRANSFORMER). NNCF still makes the quantizers after a ReLU unsigned (uint8),
which TensorRT refuses, so they are switched to signed here, before QAT: the fake-quantized model and the Q/DQ
ONNX then compute the same thing (the OpenVINO IR makes them unsigned again, as its CPU kernels want them, with the
trained ranges: darkedge.export.openvino). The input normalisation stays in floating point: with per-clip
statistics NNCF would quantize the raw clip, its mean and its variance (a scale near 1e-3, which QAT drove to NaN
and OpenVINO then refused to compile), which also costs a dark clip its few levels and an INT8 graph four
float-quantize-float steps that FP32 runs as one fused MVN kernel; the first convolution's input quantizer comes
after it as usual. SmoothQuant can be switched off: it crashes on some shared-weight models (nncf issue 4172).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from darkedge.models.vit import Block


def quantize_ptq(model: nn.Module, batches: Iterable[torch.Tensor], smooth_quant: bool = True) -> nn.Module:
    """A fake-quantized copy of `model`, ranges from every clip batch (B, 3, T, H, W) given; no labels needed."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )

    advanced = None
    if not smooth_quant:
        advanced = AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1)
        )
    batches = list(batches)
    # the ops of every InputNorm (module attribute `normalise`), e.g. backbone/normalise/mean/0, and of every
    # temporal shift (`shift`: slices and concatenations, which move values and have nothing to quantize)
    float_ops = nncf.IgnoredScope(patterns=[r"(.*/)?normalise/.*", r"(.*/)?shift/.*"], validate=False)
    transformer = any(isinstance(module, Block) for module in model.modules())
    quantized = nncf.quantize(
        copy.deepcopy(model).eval().cpu(),
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER if transformer else None,
        preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(batches),
        advanced_parameters=advanced,
        ignored_scope=float_ops,
    ).eval()
    make_quantizers_signed(quantized)
    return quantized


def make_quantizers_signed(quantized: nn.Module) -> int:
    """Switch every unsigned symmetric quantizer to signed (int8, zero-point 0); returns how many were switched.

    The scale (the largest value represented) is kept, so the range still fits: a quantizer after a ReLU gives up
    its negative half, one bit of resolution, which is what TensorRT does with such a tensor anyway.
    """
    from nncf.torch.quantization.layers import SymmetricQuantizer

    switched = 0
    for module in quantized.modules():
        if isinstance(module, SymmetricQuantizer) and not module.signed:
            module.signed = True
            switched += 1
    return switched
