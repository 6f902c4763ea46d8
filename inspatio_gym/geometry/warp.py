"""Forward splatting of reference frames into a target camera: the explicit spatial constraint.

Every source pixel becomes a 3D point (its depth through K^-1), is moved into the target
camera and splatted bilinearly onto its 4 neighbouring pixels. A soft z-buffer weights each
splat by exp(-alpha * log(1+z) / max log(1+z)) so near points dominate far ones where both
land (softmax splatting, as in the original system, alpha = 50). Everything is one batched
scatter: no per-pixel Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .camera import invert_pose, pixel_grid

__all__ = ["WarpResult", "forward_warp"]


@dataclass
class WarpResult:
    """Render of the reference in the target camera (float32 [0, 1]), its depth and coverage."""

    rgb: torch.Tensor  # [B, H, W, 3]; holes are 0
    depth: torch.Tensor  # [B, H, W]; holes are 0
    mask: torch.Tensor  # [B, H, W] bool; True where at least one point landed
    weight: torch.Tensor  # [B, H, W] accumulated splat weight (confidence)


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
    tvec = (K_out.unsqueeze(1) @ rel[..., :3, 3:]).squeeze(-1)  # [B,F,3]
    pix = pixel_grid(H, W, torch.float32).to(dev).reshape(1, 1, H * W, 3)
    pts = (pix @ M.to(torch.float32).transpose(-1, -2)) * depth.reshape(B, F, H * W, 1)
    pts = pts + tvec.to(torch.float32).unsqueeze(2)  # [B,F,N,3] target pixel * z
    z = pts[..., 2]
    valid = (depth.reshape(B, F, -1) > 0) & torch.isfinite(depth.reshape(B, F, -1)) & (z > 1e-6)
    zs = torch.where(valid, z, torch.ones_like(z))
    u = pts[..., 0] / zs
    v = pts[..., 1] / zs
    # Snap positions within float noise of a pixel centre: otherwise a 1e-7 bilinear leak of
    # a nearer neighbour would outweigh the point itself under the z-buffer.
    u = torch.where((u - u.round()).abs() < 1e-3, u.round(), u)
    v = torch.where((v - v.round()).abs() < 1e-3, v.round(), v)

    # Soft z-buffer, normalised per batch item by the farthest valid point.
    # The nearest valid point gets weight 1 (a constant factor per batch item, which the
    # normalisation cancels) so large alpha cannot underflow float32.
    logz = torch.log1p(zs / depth_unit)
    max_logz = torch.where(valid, logz, torch.zeros_like(logz)).amax(dim=(1, 2), keepdim=True)
    min_logz = torch.where(valid, logz, torch.full_like(logz, float("inf"))).amin(dim=(1, 2), keepdim=True)
    zw = torch.exp(-alpha * (logz - min_logz.clamp_max(1e30)) / max_logz.clamp_min(1e-6))

    u0 = torch.floor(u)
    v0 = torch.floor(v)
    fu = u - u0
    fv = v - v0
    values = torch.cat([rgb.reshape(B, F, H * W, C), z.unsqueeze(-1), torch.ones_like(z).unsqueeze(-1)], -1)
    # Two accumulators per batch item: the primary frame (0) and the hole-fillers (1..F-1).
    acc = torch.zeros(B * 2 * Ho * Wo, C + 2, dtype=torch.float32, device=dev)
    group = (torch.arange(F, device=dev) > 0).to(torch.int64).view(1, F, 1)
    base = (torch.arange(B, device=dev).view(B, 1, 1) * 2 + group) * (Ho * Wo)
    for du, dv, wb in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        uu = u0 + du
        vv = v0 + dv
        ok = valid & (uu >= 0) & (uu <= Wo - 1) & (vv >= 0) & (vv <= Ho - 1) & (wb > 0)
        idx = base + (vv.clamp(0, Ho - 1) * Wo + uu.clamp(0, Wo - 1)).to(torch.int64)
        w = torch.where(ok, wb * zw, torch.zeros_like(wb))
        sel = ok.reshape(-1)
        acc.index_add_(0, idx.reshape(-1)[sel], (values * w.unsqueeze(-1)).reshape(-1, C + 2)[sel])
    acc = acc.reshape(B, 2, Ho, Wo, C + 2)
    acc = torch.where((acc[:, 0, ..., -1:] > 0), acc[:, 0], acc[:, 1])  # primary where it covers
    wsum = acc[..., -1]
    mask = wsum > 0
    denom = torch.where(mask, wsum, torch.ones_like(wsum)).unsqueeze(-1)
    out = acc[..., :-1] / denom
    return WarpResult(rgb=out[..., :C], depth=out[..., C], mask=mask, weight=wsum)
