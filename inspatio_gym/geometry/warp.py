"""Forward splatting of reference frames into a target camera: the explicit spatial constraint.

Every source pixel becomes a 3D point (its depth through K^-1), is moved into the target
camera and splatted bilinearly onto its 4 neighbouring pixels. A soft z-buffer weights each
splat by exp(-alpha * log(1+z) / max log(1+z)) so near points dominate far ones where both
land (softmax splatting, as in the original system, alpha = 50). Two implementations, one
semantics: forward_warp_torch (the reference: one batched scatter, any device) and
forward_warp_numba (splat_numba's compiled kernel, CPU); forward_warp picks one by the
rule of dispatch.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import splat_numba
from .camera import invert_pose, pixel_grid
from .dispatch import use_numba

__all__ = ["WarpResult", "forward_warp", "forward_warp_numba", "forward_warp_torch"]


@dataclass
class WarpResult:
    """Render of the reference in the target camera (float32 [0, 1]), its depth and coverage."""

    rgb: torch.Tensor  # [B, H, W, 3]; holes are 0
    depth: torch.Tensor  # [B, H, W]; holes are 0
    mask: torch.Tensor  # [B, H, W] bool; True where at least one point landed
    weight: torch.Tensor  # [B, H, W] accumulated splat weight (confidence)


_PIXELS: dict[tuple[int, int, str], torch.Tensor] = {}


def _pixels(H: int, W: int, dev: torch.device) -> torch.Tensor:
    """(u, v, 1) of every pixel [H*W, 3], cached per size and device."""
    key = (H, W, str(dev))
    if key not in _PIXELS:
        _PIXELS[key] = pixel_grid(H, W, torch.float32).to(dev).reshape(-1, 3)
    return _PIXELS[key]


def _as_batched(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Add the frame axis F=1 when the caller passed a single frame per batch item."""
    return x.unsqueeze(1) if x.dim() == dims else x


def _batched(rgb: torch.Tensor, depth: torch.Tensor, src_c2w: torch.Tensor, tgt_c2w: torch.Tensor,
             alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rgb [B,F,H,W,C], depth [B,F,H,W], src_c2w [B,F,4,4]) with the frame axis, checked
    against each other and tgt_c2w [B,4,4] (both implementations take the same inputs)."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (near points win), got {alpha}")
    rgb, depth, src_c2w = _as_batched(rgb, 4), _as_batched(depth, 3), _as_batched(src_c2w, 3)
    B, F, H, W, C = rgb.shape
    if tuple(depth.shape) != (B, F, H, W):
        raise ValueError(f"depth shape {tuple(depth.shape)} does not match rgb {tuple(rgb.shape)}")
    if tuple(src_c2w.shape) != (B, F, 4, 4) or tuple(tgt_c2w.shape) != (B, 4, 4):
        raise ValueError(
            f"poses must be src [B,F,4,4]={B, F, 4, 4} and tgt [B,4,4]; "
            f"got {tuple(src_c2w.shape)} and {tuple(tgt_c2w.shape)}"
        )
    return rgb, depth, src_c2w


def forward_warp(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    src_c2w: torch.Tensor,
    tgt_c2w: torch.Tensor,
    alpha: float = 50.0,
    out_size: tuple[int, int] | None = None,
    K_tgt: torch.Tensor | None = None,
    depth_unit: float = 1.0,
) -> WarpResult:
    """Splat source frames into target cameras (see forward_warp_torch for the semantics):
    forward_warp_numba where dispatch.use_numba says so (CPU), else forward_warp_torch."""
    impl = forward_warp_numba if use_numba(rgb, depth, K, src_c2w, tgt_c2w, K_tgt) else forward_warp_torch
    return impl(rgb, depth, K, src_c2w, tgt_c2w, alpha, out_size, K_tgt, depth_unit)


def _np(x: torch.Tensor | np.ndarray, dtype: torch.dtype | None = None) -> np.ndarray:
    """C-contiguous numpy array of a CPU tensor in dtype (arrays pass as they are); a copy
    only when needed."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        x = (x if dtype is None or x.dtype == dtype else x.to(dtype)).numpy()
    return np.ascontiguousarray(x)


def forward_warp_numba(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    src_c2w: torch.Tensor,
    tgt_c2w: torch.Tensor,
    alpha: float = 50.0,
    out_size: tuple[int, int] | None = None,
    K_tgt: torch.Tensor | None = None,
    depth_unit: float = 1.0,
) -> WarpResult:
    """forward_warp_torch on CPU tensors by the compiled kernel of splat_numba: same
    arguments and results (to 1e-4: float64 inside, float32 in torch; the same mask), new CPU tensors out; uint8 rgb goes
    in as it is (converted to [0, 1] inside the kernel)."""
    rgb, depth, src_c2w = _batched(rgb, depth, src_c2w, tgt_c2w, alpha)
    B, F, H, W, C = rgb.shape
    Ho, Wo = (int(out_size[0]), int(out_size[1])) if out_size is not None else (H, W)
    f64 = torch.float64
    M, T = splat_numba.splat_maps(_np(K, f64), _np(src_c2w, f64), _np(tgt_c2w, f64),
                                  None if K_tgt is None else _np(K_tgt, f64))
    rgb_np = _np(rgb, None if rgb.dtype == torch.uint8 else torch.float32).reshape(B * F, H, W, C)
    idx = np.arange(B * F, dtype=np.int64).reshape(B, F)
    out = splat_numba.splat(rgb_np, _np(depth, torch.float32).reshape(B * F, H, W), idx, M, T, alpha, depth_unit,
                            (Ho, Wo))
    return WarpResult(*map(torch.from_numpy, out))


def forward_warp_torch(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    src_c2w: torch.Tensor,
    tgt_c2w: torch.Tensor,
    alpha: float = 50.0,
    out_size: tuple[int, int] | None = None,
    K_tgt: torch.Tensor | None = None,
    depth_unit: float = 1.0,
) -> WarpResult:
    """Splat source frames into target cameras.

    rgb [B, H, W, C] or [B, F, H, W, C] (any float range; uint8 is converted to [0, 1]),
    depth [B, H, W] or [B, F, H, W] (z-depth, <= 0 or non-finite = invalid),
    K [3, 3] or [B, 3, 3], src_c2w [B, 4, 4] or [B, F, 4, 4], tgt_c2w [B, 4, 4].
    With F > 1, frame 0 is the primary (time-aligned) frame and frames 1.. only fill the
    pixels it leaves uncovered, so a neighbour (with a moving object elsewhere) never
    blends into what the primary frame sees. depth_unit divides z inside the soft
    z-buffer (pass the scene scale to make the weighting independent of depth units).
    """
    rgb, depth, src_c2w = _batched(rgb, depth, src_c2w, tgt_c2w, alpha)
    rgb = rgb.to(torch.float32) / 255.0 if rgb.dtype == torch.uint8 else rgb.to(torch.float32)
    depth = depth.to(torch.float32)
    B, F, H, W, C = rgb.shape
    Ho, Wo = out_size if out_size is not None else (H, W)
    dev = rgb.device
    K = K.to(device=dev, dtype=torch.float64)
    K_src = K if K.dim() == 3 else K.expand(B, 3, 3)
    K_out = K_src if K_tgt is None else K_tgt.to(device=dev, dtype=torch.float64).expand(B, 3, 3)

    # One 3x4 matrix per (b, f) mapping source pixels (u, v, 1) * z to target pixels * z'.
    rel = invert_pose(tgt_c2w.to(dev, torch.float64)).unsqueeze(1) @ src_c2w.to(dev, torch.float64)
    M = K_out.unsqueeze(1) @ rel[..., :3, :3] @ torch.linalg.inv(K_src).unsqueeze(1)  # [B,F,3,3]
    tvec = (K_out.unsqueeze(1) @ rel[..., :3, 3:]).transpose(-1, -2)  # [B,F,1,3]
    pix = _pixels(H, W, dev)  # [N, 3]
    d = depth.reshape(B, F, H * W, 1)
    pts = torch.addcmul(tvec.to(torch.float32), pix @ M.to(torch.float32).transpose(-1, -2), d)  # [B,F,N,3]
    z = pts[..., 2]
    valid = (d[..., 0] > 0) & (z > float(np.float32(1e-6) * np.float32(depth_unit)))  # relative: any depth unit
    if not bool(torch.isfinite(depth).all()):
        valid &= torch.isfinite(d[..., 0])
    inv_z = torch.where(valid, z, torch.ones_like(z)).reciprocal_()
    uv = pts[..., :2] * inv_z.unsqueeze(-1)  # [B,F,N,2]
    # Snap positions within float noise of a pixel centre: otherwise a 1e-7 bilinear leak of
    # a nearer neighbour would outweigh the point itself under the z-buffer.
    r = uv.round()
    uv = torch.where((uv - r).abs_() < 1e-3, r, uv)

    # Soft z-buffer; the nearest valid point of each batch item gets weight 1 (a constant
    # factor the normalisation cancels) so large alpha cannot underflow float32.
    logz = torch.log1p(torch.where(valid, z, torch.ones_like(z)) / depth_unit)
    max_logz = torch.where(valid, logz, torch.zeros_like(logz)).amax(dim=(1, 2), keepdim=True)
    min_logz = torch.where(valid, logz, torch.full_like(logz, float("inf"))).amin(dim=(1, 2), keepdim=True)
    zw = torch.exp((logz - min_logz.clamp_max(1e30)) * (-alpha / max_logz.clamp_min(1e-6)))
    zw = torch.where(valid, zw, torch.zeros_like(zw))

    # Bilinear corners, all four in one scatter; out-of-image corners go to a trash row.
    base_uv = uv.floor()
    f = uv - base_uv  # [B,F,N,2] fractional parts
    x0 = base_uv[..., 0].to(torch.int64)
    y0 = base_uv[..., 1].to(torch.int64)
    fu, fv = f[..., 0], f[..., 1]
    wx = torch.stack([1 - fu, fu])  # [2,B,F,N]
    wy = torch.stack([1 - fv, fv])
    xs = torch.stack([x0, x0 + 1])
    ys = torch.stack([y0, y0 + 1])
    okx = (xs >= 0) & (xs < Wo)
    oky = (ys >= 0) & (ys < Ho)
    group = (torch.arange(F, device=dev) > 0).to(torch.int64).view(1, F, 1)
    base = (torch.arange(B, device=dev).view(B, 1, 1) * 2 + group) * (Ho * Wo)  # [B,F,1]
    trash = B * 2 * Ho * Wo
    w4 = (wy.unsqueeze(1) * wx.unsqueeze(0)) * zw  # [2(y),2(x),B,F,N]
    ok4 = oky.unsqueeze(1) & okx.unsqueeze(0) & (w4 > 0)
    idx4 = torch.where(ok4, base + ys.unsqueeze(1) * Wo + xs.unsqueeze(0), torch.full_like(ok4, trash, dtype=torch.int64))
    values = torch.cat([rgb.reshape(B, F, H * W, C), z.unsqueeze(-1), torch.ones_like(z).unsqueeze(-1)], -1)
    contrib = values.unsqueeze(0).unsqueeze(0) * torch.where(ok4, w4, torch.zeros_like(w4)).unsqueeze(-1)
    acc = torch.zeros(trash + 1, C + 2, dtype=torch.float32, device=dev)
    acc.index_add_(0, idx4.reshape(-1), contrib.reshape(-1, C + 2))
    acc = acc[:trash]
    acc = acc.reshape(B, 2, Ho, Wo, C + 2)
    acc = torch.where((acc[:, 0, ..., -1:] > 0), acc[:, 0], acc[:, 1])  # primary where it covers
    wsum = acc[..., -1]
    mask = wsum > 0
    denom = torch.where(mask, wsum, torch.ones_like(wsum)).unsqueeze(-1)
    out = acc[..., :-1] / denom
    return WarpResult(rgb=out[..., :C], depth=out[..., C], mask=mask, weight=wsum)
