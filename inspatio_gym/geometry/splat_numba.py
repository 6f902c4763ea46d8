"""Numba CPU kernel for the forward splat: same semantics as ``warp.forward_warp``.

``forward_warp`` spends most of its time in torch op overhead and ``index_add_``; this
module does the whole per-point work (projection, snapping, soft z-buffer weights,
4-corner bilinear accumulation, primary/secondary selection and normalisation) in one
compiled pass per batch item, parallel over the batch with ``prange`` (each item writes
only its own output slices, so there are no races).

The float32 arithmetic follows the torch reference step by step (same operation order,
same validity and ``weight > 0`` rules, no fused multiply-add: ``fastmath=False``), so the
mask agrees exactly and values agree to float rounding (the summation order of the
scatter differs from ``index_add_``).

Only the small per-(batch, frame) 3x3 matrices are computed outside the kernel, in
float64 numpy, exactly as the reference does before casting them to float32.

Compiled functions are cached on disk (``cache=True``): the first call in a fresh
environment compiles for a few seconds; later processes load the cache. ``warmup()``
triggers that up front.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # imported lazily at call time: warp.py may import this module
    from .warp import WarpResult

try:  # numba is optional: available() says whether the kernel can be used
    from numba import njit, prange
    from numba.core import types as _nbtypes
    from numba.extending import intrinsic as _intrinsic

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    _HAVE_NUMBA = False

__all__ = ["available", "forward_warp_numba", "warmup"]

# float32 constants (numba freezes globals; keeping them float32 keeps the arithmetic float32)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_SNAP = np.float32(1e-3)  # positions within this of an integer are snapped to it
_ZMIN = np.float32(1e-6)  # points need z > _ZMIN in the target camera
_BIG = np.float32(1e30)  # clamp of the per-item min log z (no valid point)
_MAXLO = np.float32(1e-6)  # clamp of the per-item max log z
_U8 = np.float32(255.0)


def available() -> bool:
    """True when numba can be imported (the kernel can run)."""
    return _HAVE_NUMBA


if _HAVE_NUMBA:

    @_intrinsic
    def _fma(typingctx, a, b, c):
        """Fused a * b + c in float32 (one rounding), as torch.addcmul computes it."""
        sig = _nbtypes.float32(_nbtypes.float32, _nbtypes.float32, _nbtypes.float32)

        def codegen(context, builder, signature, args):
            return builder.fma(*args)

        return sig, codegen

    @njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def _log1p32(x):
        """float32 log1p, correctly rounded (nearest to torch's vectorised Sleef log1p)."""
        return np.float32(math.log1p(np.float64(x)))

    @njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def _exp32(x):
        """float32 exp, correctly rounded (nearest to torch's vectorised Sleef exp)."""
        return np.float32(math.exp(np.float64(x)))

    @njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def _logz_pass(depth, M, T, du, b, logz):
        """Log-depths of one batch item's points in the target camera; NaN marks invalid.

        Returns (min, max) of log1p(z / du) over the item's valid points (inf, 0 if none).
        """
        F, H, W = depth.shape[1], depth.shape[2], depth.shape[3]
        mn = np.float32(np.inf)
        mx = _F0
        nan = np.float32(np.nan)
        for f in range(F):
            m20 = M[b, f, 2, 0]
            m21 = M[b, f, 2, 1]
            m22 = M[b, f, 2, 2]
            t2 = T[b, f, 2]
            for y in range(H):
                fy = np.float32(y)
                for x in range(W):
                    d = depth[b, f, y, x]
                    fx = np.float32(x)
                    z = _fma((fx * m20 + fy * m21) + m22, d, t2)  # as pz in _splat_item
                    # valid = finite depth > 0 and z > 1e-6 (NaN fails every comparison)
                    if d > _F0 and d < np.float32(np.inf) and z > _ZMIN:
                        lz = _log1p32(z / du)
                        logz[f, y, x] = lz
                        if lz > mx:
                            mx = lz
                        if lz < mn:
                            mn = lz
                    else:
                        logz[f, y, x] = nan
        return mn, mx

    @njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def _splat_item(rgb, u8, depth, M, T, neg_alpha, du, b, out_rgb, out_depth, out_mask, out_w):
        """Splat all frames of batch item b and normalise into its output slices."""
        F, H, W, C = rgb.shape[1], rgb.shape[2], rgb.shape[3], rgb.shape[4]
        Ho, Wo = out_depth.shape[1], out_depth.shape[2]
        logz = np.empty((F, H, W), np.float32)
        mn, mx = _logz_pass(depth, M, T, du, b, logz)
        # as in the reference: min clamped to 1e30, scale = reciprocal(max.clamp_min(1e-6)) * -alpha
        if mn > _BIG:
            mn = _BIG
        if mx < _MAXLO:
            mx = _MAXLO
        s = (_F1 / mx) * neg_alpha
        acc = np.zeros((2, Ho, Wo, C + 2), np.float32)  # [primary | secondary, ..., rgb z 1]
        fWo = np.float32(Wo - 1)
        fHo = np.float32(Ho - 1)
        for f in range(F):
            g = 0 if f == 0 else 1
            m00, m01, m02 = M[b, f, 0, 0], M[b, f, 0, 1], M[b, f, 0, 2]
            m10, m11, m12 = M[b, f, 1, 0], M[b, f, 1, 1], M[b, f, 1, 2]
            m20, m21, m22 = M[b, f, 2, 0], M[b, f, 2, 1], M[b, f, 2, 2]
            t0, t1, t2 = T[b, f, 0], T[b, f, 1], T[b, f, 2]
            for y in range(H):
                fy = np.float32(y)
                for x in range(W):
                    lz = logz[f, y, x]
                    if lz != lz:  # invalid point
                        continue
                    d = depth[b, f, y, x]
                    fx = np.float32(x)
                    # pts = addcmul(t, pix @ M^T, d): matmul row left to right, then one fma
                    px = _fma((fx * m00 + fy * m01) + m02, d, t0)
                    py = _fma((fx * m10 + fy * m11) + m12, d, t1)
                    pz = _fma((fx * m20 + fy * m21) + m22, d, t2)
                    iz = _F1 / pz
                    u = px * iz
                    v = py * iz
                    # snap to a pixel centre within 1e-3 (rounding mode is irrelevant:
                    # a half-integer is never within 1e-3 of an integer)
                    r = np.floor(u + np.float32(0.5))
                    if abs(u - r) < _SNAP:
                        u = r
                    r = np.floor(v + np.float32(0.5))
                    if abs(v - r) < _SNAP:
                        v = r
                    bu = np.floor(u)
                    bv = np.floor(v)
                    # some corner inside the image (the negated form also rejects NaN)
                    if not (bu >= np.float32(-1.0) and bu <= fWo and bv >= np.float32(-1.0) and bv <= fHo):
                        continue
                    fu = u - bu
                    fv = v - bv
                    x0 = int(bu)
                    y0 = int(bv)
                    zw = _exp32((lz - mn) * s)
                    for cy in range(2):
                        yy = y0 + cy
                        if yy < 0 or yy >= Ho:
                            continue
                        wy = fv if cy == 1 else _F1 - fv
                        for cx in range(2):
                            xx = x0 + cx
                            if xx < 0 or xx >= Wo:
                                continue
                            wx = fu if cx == 1 else _F1 - fu
                            w = (wy * wx) * zw
                            if not (w > _F0):
                                continue
                            for c in range(C):
                                val = np.float32(rgb[b, f, y, x, c])
                                if u8:
                                    val = val / _U8
                                acc[g, yy, xx, c] += val * w
                            acc[g, yy, xx, C] += pz * w
                            acc[g, yy, xx, C + 1] += w
        # primary where it has weight, else secondary; average by weight
        for yy in range(Ho):
            for xx in range(Wo):
                g = 0 if acc[0, yy, xx, C + 1] > _F0 else 1
                ws = acc[g, yy, xx, C + 1]
                m = ws > _F0
                den = ws if m else _F1
                for c in range(C):
                    out_rgb[b, yy, xx, c] = acc[g, yy, xx, c] / den
                out_depth[b, yy, xx] = acc[g, yy, xx, C] / den
                out_mask[b, yy, xx] = m
                out_w[b, yy, xx] = ws

    @njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _splat_batch(rgb, u8, depth, M, T, neg_alpha, du, out_rgb, out_depth, out_mask, out_w):
        for b in prange(rgb.shape[0]):
            _splat_item(rgb, u8, depth, M, T, neg_alpha, du, b, out_rgb, out_depth, out_mask, out_w)


def _as_batched(x: torch.Tensor, dims: int) -> torch.Tensor:
    return x.unsqueeze(1) if x.dim() == dims else x


def _f64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _f32_c(x: torch.Tensor) -> np.ndarray:
    """C-contiguous float32 numpy view of a CPU tensor (a copy only when needed)."""
    x = x.detach()
    if x.dtype != torch.float32:
        x = x.to(torch.float32)
    return np.ascontiguousarray(x.numpy())


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
) -> "WarpResult":
    """Drop-in CPU replacement of ``forward_warp`` (same arguments, same ``WarpResult``).

    rgb [B, H, W, C] or [B, F, H, W, C] (float, or uint8 converted to [0, 1] inside the
    kernel), depth [B, H, W] or [B, F, H, W], K [3, 3] or [B, 3, 3], src_c2w [B, 4, 4] or
    [B, F, 4, 4], tgt_c2w [B, 4, 4]. Outputs are new CPU tensors. Tensors on another device
    go to the torch implementation.
    """
    from .warp import WarpResult, forward_warp

    if not _HAVE_NUMBA:
        raise RuntimeError("numba is not installed: use forward_warp or pip install numba")
    if isinstance(rgb, torch.Tensor) and rgb.device.type != "cpu":
        return forward_warp(rgb, depth, K, src_c2w, tgt_c2w, alpha, out_size, K_tgt, depth_unit)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (near points win), got {alpha}")
    rgb = _as_batched(rgb, 4)
    depth = _as_batched(depth, 3)
    src_c2w = _as_batched(src_c2w, 3)
    B, F, H, W, C = rgb.shape
    if tuple(depth.shape) != (B, F, H, W):
        raise ValueError(f"depth shape {tuple(depth.shape)} does not match rgb {tuple(rgb.shape)}")
    if tuple(src_c2w.shape) != (B, F, 4, 4) or tuple(tgt_c2w.shape) != (B, 4, 4):
        raise ValueError(
            f"poses must be src [B,F,4,4]={B, F, 4, 4} and tgt [B,4,4]; "
            f"got {tuple(src_c2w.shape)} and {tuple(tgt_c2w.shape)}"
        )
    Ho, Wo = (int(out_size[0]), int(out_size[1])) if out_size is not None else (H, W)

    # Per-(b, f) 3x4 map of (u, v, 1) * z to target pixels * z', in float64 like the reference.
    Kd = _f64(K)
    K_src = np.broadcast_to(Kd, (B, 3, 3))
    K_out = K_src if K_tgt is None else np.broadcast_to(_f64(K_tgt), (B, 3, 3))
    src = _f64(src_c2w)
    tgt = _f64(tgt_c2w)
    Rt = np.swapaxes(tgt[:, :3, :3], -1, -2)
    inv_tgt = np.zeros((B, 4, 4))
    inv_tgt[:, :3, :3] = Rt
    inv_tgt[:, :3, 3:] = -Rt @ tgt[:, :3, 3:]
    inv_tgt[:, 3, 3] = 1.0
    rel = inv_tgt[:, None] @ src  # [B, F, 4, 4]
    M = (K_out[:, None] @ rel[..., :3, :3] @ np.linalg.inv(K_src)[:, None]).astype(np.float32)
    T = np.ascontiguousarray((K_out[:, None] @ rel[..., :3, 3:])[..., 0], dtype=np.float32)

    u8 = rgb.dtype == torch.uint8
    rgb_np = np.ascontiguousarray(rgb.detach().numpy()) if u8 else _f32_c(rgb)
    depth_np = _f32_c(depth)
    out_rgb = torch.empty((B, Ho, Wo, C), dtype=torch.float32)
    out_depth = torch.empty((B, Ho, Wo), dtype=torch.float32)
    out_mask = torch.empty((B, Ho, Wo), dtype=torch.bool)
    out_w = torch.empty((B, Ho, Wo), dtype=torch.float32)
    _splat_batch(
        rgb_np, u8, depth_np, np.ascontiguousarray(M), T,
        np.float32(-float(alpha)), np.float32(depth_unit),
        out_rgb.numpy(), out_depth.numpy(), out_mask.numpy(), out_w.numpy(),
    )  # fmt: skip
    return WarpResult(rgb=out_rgb, depth=out_depth, mask=out_mask, weight=out_w)


def warmup(uint8: bool = False) -> float:
    """Compile (or load from the on-disk cache) the kernel; returns the seconds it took."""
    import time

    if not _HAVE_NUMBA:
        return 0.0
    t0 = time.perf_counter()
    rgb = torch.zeros(1, 1, 4, 4, 3, dtype=torch.uint8 if uint8 else torch.float32)
    eye = torch.eye(4, dtype=torch.float64)
    K = torch.tensor([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    forward_warp_numba(rgb, torch.ones(1, 1, 4, 4), K, eye[None, None], eye[None])
    return time.perf_counter() - t0
