"""From a splat to a view: cracks become holes, the render is quantised, holes are filled.

This is the last step of the explicit spatial constraint: the covered mask the generator
is conditioned on, the uint8 render, and a push-pull fill of the holes (depth always, the
image optionally). On the CPU with numba it runs the compiled kernel of view_numba; the
torch composition here is the reference (and the path for other devices).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .cracks import crack_mask
from .fill import push_pull_fill
from .warp import WarpResult, forward_warp_torch

__all__ = ["View", "finish_splat", "finish_splat_torch", "warp_view"]


@dataclass
class View:
    """What a batch of cameras sees: the observation and the spatial constraint behind it."""

    rgb: np.ndarray  # [B, H, W, 3] uint8 observation (the render itself when not filled)
    depth: np.ndarray  # [B, H, W] float32 z-depth in world units, holes filled
    mask: np.ndarray  # [B, H, W] bool: covered by the reference render
    render: np.ndarray  # [B, H, W, 3] uint8 raw render of the reference (0 in holes)


#: INSPATIO_GYM_TORCH_WARP=1 forces the torch implementations (for comparisons and debugging).
_TORCH_ONLY = os.environ.get("INSPATIO_GYM_TORCH_WARP", "") == "1"


def finish_splat(res: WarpResult, fill_rgb: bool = True) -> View:
    """The view of a splat (numba kernel on the CPU when available, else torch)."""
    if res.depth.device.type == "cpu" and not _TORCH_ONLY:
        from . import view_numba

        if view_numba.available():
            render, mask, rgb, depth = view_numba.finish_splat_numba(
                res.rgb.numpy(), res.depth.numpy(), res.mask.numpy(), fill_rgb)
            return View(render=render, mask=mask, rgb=rgb, depth=depth)
    return finish_splat_torch(res, fill_rgb)


def warp_view(frames: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor, idx: np.ndarray,
              tgt_c2w: torch.Tensor, alpha: float = 50.0, depth_unit: float = 1.0,
              fill_rgb: bool = True) -> View:
    """Frames idx [B, F] of a clip (frames [N,H,W,3], depth [N,H,W], c2w [N,4,4], K [3,3])
    splatted into the cameras tgt_c2w [B,4,4] (frame idx[:, 0] primary, the others filling
    its holes) and finished into views.

    On the CPU with numba: one fused parallel kernel per call, frames read in place. Else
    forward_warp of the gathered frames, then finish_splat.
    """
    idx = np.asarray(idx)
    if frames.device.type == "cpu" and not _TORCH_ONLY:
        from . import view_numba

        if view_numba.available():
            render, mask, rgb, dep = view_numba.warp_view_numba(
                frames.numpy(), depth.numpy(), K.numpy(), c2w.numpy(), idx, tgt_c2w.numpy(), alpha, depth_unit,
                fill_rgb)
            return View(render=render, mask=mask, rgb=rgb, depth=dep)
    i = torch.from_numpy(idx).to(frames.device)
    res = forward_warp_torch(frames[i], depth[i], K, c2w[i], tgt_c2w, alpha=alpha, depth_unit=depth_unit)
    return finish_splat_torch(res, fill_rgb)


def finish_splat_torch(res: WarpResult, fill_rgb: bool = True) -> View:
    """Reference implementation with torch ops (any device)."""
    covered = res.mask & ~crack_mask(res.depth, res.mask)  # background seen through gaps is a hole
    render_t = torch.where(covered.unsqueeze(-1), (res.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8),
                           torch.zeros((), dtype=torch.uint8, device=res.rgb.device))
    if fill_rgb:
        chans = torch.cat([render_t.to(torch.float32), res.depth.unsqueeze(-1)], -1).permute(0, 3, 1, 2)
    else:  # only depth needs filling (the generator fills the image itself)
        chans = res.depth.unsqueeze(1)
    filled = push_pull_fill(chans, covered.unsqueeze(1)).permute(0, 2, 3, 1)
    depth = filled[..., -1].contiguous().cpu().numpy()
    render = render_t.cpu().numpy()
    rgb = filled[..., :3].round().clamp(0, 255).to(torch.uint8).cpu().numpy() if fill_rgb else render.copy()
    return View(render=render, mask=covered.cpu().numpy(), rgb=rgb, depth=depth)
