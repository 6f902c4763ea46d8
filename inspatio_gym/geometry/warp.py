"""Forward splatting of reference frames into a target camera: the explicit spatial constraint.

Every source pixel becomes a 3D point (its depth through K^-1), is moved into the target
camera and splatted bilinearly onto its 4 neighbouring pixels. A soft z-buffer weights each
splat by exp(-alpha * log(1+z) / max log(1+z)) so near points dominate far ones where both
land (softmax splatting, as in the original system, alpha = 50). Everything is one batched
scatter: no per-pixel Python loops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .camera import invert_pose, pixel_grid

__all__ = ["WarpResult", "forward_warp", "forward_warp_torch"]


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
    """Splat source frames into target cameras (see forward_warp_torch for the semantics).

    On the CPU with numba installed this runs the compiled kernel of splat_numba (about
    10-20x faster at 16 lanes, same results to 1e-5 and the same mask); elsewhere the torch
    implementation, which also serves as its reference.
    """
    if rgb.device.type == "cpu" and not _TORCH_ONLY:
        from . import splat_numba

        if splat_numba.available():
            return splat_numba.forward_warp_numba(rgb, depth, K, src_c2w, tgt_c2w, alpha, out_size, K_tgt,
                                                  depth_unit)
    return forward_warp_torch(rgb, depth, K, src_c2w, tgt_c2w, alpha, out_size, K_tgt, depth_unit)


#: INSPATIO_GYM_TORCH_WARP=1 forces the torch implementation (for comparisons and debugging).
_TORCH_ONLY = os.environ.get("INSPATIO_GYM_TORCH_WARP", "") == "1"


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
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (near points win), got {alpha}")
    if rgb.dtype == torch.uint8:
        rgb = rgb.to(torch.float32) / 255.0
    rgb = _as_batched(rgb, 4).to(torch.float32)
    depth = _as_batched(depth, 3).to(torch.float32)
    src_c2w = _as_batched(src_c2w, 3)
    B, F, H, W, C = rgb.shape
    if depth.shape != (B, F, H, W):
        raise ValueError(f"depth shape {tuple(depth.shape)} does not match rgb {tuple(rgb.shape)}")
    if src_c2w.shape != (B, F, 4, 4) or tgt_c2w.shape != (B, 4, 4):
        raise ValueError(
            f"poses must be src [B,F,4,4]={B, F, 4, 4} and tgt [B,4,4]; "
            f"got {tuple(src_c2w.shape)} and {tuple(tgt_c2w.shape)}"
        )
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
    valid = (d[..., 0] > 0) & (z > 1e-6)
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
