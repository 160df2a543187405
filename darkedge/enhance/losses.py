"""The four zero-reference losses of Zero-DCE (Guo et al., CVPR 2020, eqs. 3-7), written from the paper.

They need no labels and no bright reference: only the dark input, the enhanced output and the curve maps.
Where the public code differs from the paper (squared instead of absolute exposure error, signed instead of
absolute spatial differences, a different colour and smoothness norm), this file follows the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EXPOSURE_LEVEL = 0.6
EXPOSURE_PATCH = 16
SPATIAL_REGION = 4
WEIGHTS = {"smoothness": 200.0, "spatial": 1.0, "colour": 5.0, "exposure": 10.0}


def illumination_smoothness(curves: torch.Tensor) -> torch.Tensor:
    """Eq. 6: (1/N) sum_n sum_c (|grad_x A_n^c| + |grad_y A_n^c|)^2, averaged over pixels and batch.

    `curves` is (B, 3N, H, W): N curve maps of 3 channels each. The gradients are forward differences,
    taken on the (H-1) x (W-1) pixels where both exist.
    """
    grad_x = curves[..., :-1, 1:] - curves[..., :-1, :-1]
    grad_y = curves[..., 1:, :-1] - curves[..., :-1, :-1]
    per_channel = (grad_x.abs() + grad_y.abs()) ** 2
    num_maps = curves.shape[1] // 3
    return per_channel.mean(dim=(2, 3)).sum(dim=1).mean() / num_maps


def spatial_consistency(raw: torch.Tensor, enhanced: torch.Tensor) -> torch.Tensor:
    """Eq. 3: (1/K) sum_i sum_{j in 4 neighbours of i} (|Y_i - Y_j| - |I_i - I_j|)^2 over 4x4 regions.

    Y and I are the mean intensities (over channels and the region) of the enhanced and the raw image; K is the
    number of regions. Neighbours outside the image are left out.
    """
    y = F.avg_pool2d(enhanced.mean(dim=1, keepdim=True), SPATIAL_REGION)
    i = F.avg_pool2d(raw.mean(dim=1, keepdim=True), SPATIAL_REGION)
    horizontal = ((y[..., 1:] - y[..., :-1]).abs() - (i[..., 1:] - i[..., :-1]).abs()) ** 2
    vertical = ((y[..., 1:, :] - y[..., :-1, :]).abs() - (i[..., 1:, :] - i[..., :-1, :]).abs()) ** 2
    # Each neighbouring pair is counted from both of its regions, as the sum over i and j in Omega(i) does.
    pair_sum = 2 * (horizontal.sum(dim=(1, 2, 3)) + vertical.sum(dim=(1, 2, 3)))
    num_regions = y.shape[-2] * y.shape[-1]
    return (pair_sum / num_regions).mean()


def colour_constancy(enhanced: torch.Tensor) -> torch.Tensor:
    """Eq. 5: sum over channel pairs (R,G), (R,B), (G,B) of (J^p - J^q)^2, J^p the mean of channel p."""
    r, g, b = enhanced.mean(dim=(2, 3)).unbind(dim=1)
    return ((r - g) ** 2 + (r - b) ** 2 + (g - b) ** 2).mean()


def exposure_control(enhanced: torch.Tensor, level: float = EXPOSURE_LEVEL) -> torch.Tensor:
    """Eq. 4: (1/M) sum_k |Y_k - E| over the M non-overlapping 16x16 patches, Y_k their mean intensity."""
    patches = F.avg_pool2d(enhanced.mean(dim=1, keepdim=True), EXPOSURE_PATCH)
    return (patches - level).abs().mean()


def zero_reference_loss(
    raw: torch.Tensor, enhanced: torch.Tensor, curves: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Eq. 7: `200 * smoothness + spatial + 5 * colour + 10 * exposure`; returns every term and the "total"."""
    terms = {
        "smoothness": illumination_smoothness(curves),
        "spatial": spatial_consistency(raw, enhanced),
        "colour": colour_constancy(enhanced),
        "exposure": exposure_control(enhanced),
    }
    terms["total"] = sum(WEIGHTS[name] * value for name, value in terms.items())
    return terms
