"""From a warp to a view: the render is quantised, holes are filled.

This is the last step of the explicit spatial constraint: the covered mask the generator
is conditioned on, the uint8 render, and a push-pull fill of the holes (depth always, the
image optionally). The surface is a mesh (geometry.mesh, the default) or a point splat
(geometry.warp; its cracks, background seen between magnified splats, become holes).
A mesh view's fill is seeded by the skirt (geometry.mesh.SKIRT): the frames' meshes
extended a pixel past their border, drawn into the holes, not reported as covered.
The compiled kernels run where dispatch.use_numba says so (CPU); the torch composition
here is the reference (and the path for other devices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import mesh_numba, view_numba
from .cracks import crack_mask
from .dispatch import use_numba
from .fill import push_pull_fill
from .mesh import MESH_DEFAULTS, SKIRT, mesh_skirt_torch, mesh_warp_torch
from .warp import WarpResult, forward_warp_torch

__all__ = ["SURFACES", "View", "finish_splat", "finish_splat_torch", "warp_view"]

#: How a reference frame becomes a surface: a triangle mesh (closed, the default) or points.
SURFACES = ("mesh", "splat")


@dataclass
class View:
    """What a batch of cameras sees: the observation and the spatial constraint behind it."""

    rgb: np.ndarray  # [B, H, W, 3] uint8 observation (the render itself when not filled)
    depth: np.ndarray  # [B, H, W] float32 z-depth in world units, holes filled
    mask: np.ndarray  # [B, H, W] bool: covered by the reference render
    render: np.ndarray  # [B, H, W, 3] uint8 raw render of the reference (0 in holes)


def finish_splat(res: WarpResult, fill_rgb: bool = True, cracks: bool = True) -> View:
    """The view of a warp: view_numba's kernel where dispatch.use_numba (CPU), else torch;
    cracks=False for a mesh (it has none)."""
    if not use_numba(res.depth):
        return finish_splat_torch(res, fill_rgb, cracks)
    render, mask, rgb, depth = view_numba.finish_splat_numba(res.rgb.numpy(), res.depth.numpy(), res.mask.numpy(),
                                                             fill_rgb, 1.1 if cracks else np.inf)
    return View(rgb=rgb, depth=depth, mask=mask, render=render)


def warp_view(frames: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor, idx: np.ndarray,
              tgt_c2w: torch.Tensor, alpha: float = 50.0, depth_unit: float = 1.0,
              fill_rgb: bool = True, surface: str = "mesh", far: torch.Tensor | None = None) -> View:
    """Frames idx [B, F] of a clip (frames [N,H,W,3], depth [N,H,W], c2w [N,4,4], K [3,3] or
    [B,3,3], far [N,H,W] bool or None) warped into the cameras tgt_c2w [B,4,4] (frame
    idx[:, 0] primary, the others filling its holes) and finished into views.

    surface "mesh" (geometry.mesh; far pixels at infinity) or "splat" (geometry.warp, with
    the soft z-buffer's alpha; far is ignored). Where dispatch.use_numba (CPU): one compiled
    call for all lanes, frames read in place. Else the torch reference of the gathered
    frames, then finish_splat_torch.
    """
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; expected one of {SURFACES}")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    _check(frames, depth, K, c2w, idx, tgt_c2w)
    if far is not None and tuple(far.shape) != tuple(depth.shape):
        raise ValueError(f"far must have depth's shape {tuple(depth.shape)}, got {tuple(far.shape)}")
    mesh = surface == "mesh"
    if use_numba(frames):
        if mesh:
            out = mesh_numba.mesh_view(frames.numpy(), depth.numpy(), None if far is None else far.numpy(), K.numpy(),
                                       c2w.numpy(), idx, tgt_c2w.numpy(), depth_unit, fill_rgb=fill_rgb,
                                       skirt=SKIRT, **MESH_DEFAULTS)
        else:
            out = view_numba.warp_view_numba(frames.numpy(), depth.numpy(), K.numpy(), c2w.numpy(), idx,
                                             tgt_c2w.numpy(), alpha, depth_unit, fill_rgb)
        render, mask, rgb, dep = out
        return View(rgb=rgb, depth=dep, mask=mask, render=render)
    i = torch.from_numpy(idx).to(frames.device)
    if mesh:
        far_i = None if far is None else far[i]
        res = mesh_warp_torch(frames[i], depth[i], K, c2w[i], tgt_c2w, far_i, depth_unit=depth_unit, **MESH_DEFAULTS)
        return _finish_skirted(res, mesh_skirt_torch(frames[i], depth[i], K, c2w[i], tgt_c2w, res.mask, far_i,
                                                     depth_unit, SKIRT, **MESH_DEFAULTS), fill_rgb)
    res = forward_warp_torch(frames[i], depth[i], K, c2w[i], tgt_c2w, alpha=alpha, depth_unit=depth_unit)
    return finish_splat_torch(res, fill_rgb, cracks=True)


def _finish_skirted(res: WarpResult, skirt: WarpResult, fill_rgb: bool) -> View:
    """A mesh warp's view with its skirt: the skirt's pixels seed the fill (they keep their
    colour in rgb) but stay holes of the render and the mask, as the kernel's _unskirt."""
    m = skirt.mask.unsqueeze(-1)
    seeded = WarpResult(rgb=torch.where(m, skirt.rgb, res.rgb), depth=torch.where(skirt.mask, skirt.depth, res.depth),
                        mask=res.mask | skirt.mask, weight=res.weight)
    view = finish_splat_torch(seeded, fill_rgb, cracks=False)
    sk = skirt.mask.cpu().numpy()
    view.mask &= ~sk
    view.render[sk] = 0
    return view


def _check(frames, depth, K, c2w, idx: np.ndarray, tgt_c2w) -> None:
    """warp_view's inputs against each other, and idx within the clip (the kernel reads the
    frames by index unchecked): the one validation of both paths."""
    B, F = idx.shape
    N, H, W, C = frames.shape
    if (C != 3 or tuple(depth.shape) != (N, H, W) or tuple(c2w.shape) != (N, 4, 4)
            or tuple(tgt_c2w.shape) != (B, 4, 4) or tuple(K.shape) not in ((3, 3), (1, 3, 3), (B, 3, 3))):
        raise ValueError(f"shapes do not match: frames {tuple(frames.shape)}, depth {tuple(depth.shape)}, "
                         f"c2w {tuple(c2w.shape)}, tgt_c2w {tuple(tgt_c2w.shape)}, K {tuple(K.shape)} for {B} lanes")
    if idx.size and (idx.min() < 0 or idx.max() >= N):
        raise ValueError(f"frame indices must lie in [0, {N}), got {idx.min()}..{idx.max()}")


def finish_splat_torch(res: WarpResult, fill_rgb: bool = True, cracks: bool = True) -> View:
    """Reference implementation with torch ops (any device); cracks=False for a mesh (it has none)."""
    covered = res.mask & ~crack_mask(res.depth, res.mask) if cracks else res.mask  # background seen through gaps
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
