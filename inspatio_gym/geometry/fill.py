"""Batched hole filling by push-pull: a pyramid of weighted averages, filled coarse to fine.

Holes take the colour of the nearest covered surroundings at the scale of the hole; the
covered pixels are untouched. All lanes in one set of tensor ops (no per-image loop), so
it costs about as much for 16 images as OpenCV's Telea inpainting for one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["push_pull_fill"]


def push_pull_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill x [B, C, H, W] where mask [B, 1, H, W] (bool or 0/1) is False."""
    w = mask.to(x.dtype)
    if bool(w.min() > 0):
        return x  # nothing to fill
    xs, ws = [x * w], [w]
    while min(xs[-1].shape[-2:]) > 1:  # push: weighted means down the pyramid
        xs.append(F.avg_pool2d(xs[-1], 2, ceil_mode=True))
        ws.append(F.avg_pool2d(ws[-1], 2, ceil_mode=True))
        if bool(ws[-1].min() >= 0.25):  # every cell fully trusted (a = 1 below): coarser levels
            break  # cannot change the result, so stopping here gives the full pyramid's output
    filled = xs[-1] / ws[-1].clamp_min(1e-12)
    for lx, lw in zip(reversed(xs[:-1]), reversed(ws[:-1])):  # pull: coarse fills fine
        up = F.interpolate(filled, size=lx.shape[-2:], mode="bilinear", align_corners=False)
        a = (lw * 4).clamp(max=1.0)  # fully trusted once a quarter of the cell is covered
        filled = lx / lw.clamp_min(1e-12) * a + up * (1 - a)
    return torch.where(mask.bool(), x, filled)
