"""Numba CPU kernel for the forward splat: same semantics as ``warp.forward_warp_torch``.

The torch reference spends most of its time in op overhead and ``index_add_``; here
the whole per-point work (projection, snapping, soft z-buffer weights, 4-corner bilinear
accumulation, primary/secondary selection and normalisation) runs compiled, one batch
item at a time, the items split across threads by ``lane_threads`` (the kernel releases
the GIL; each item writes only its own output slices: no races). Secondary frames are
only accumulated where the primary frame left a pixel empty, the only place they count.

The float32 arithmetic follows the torch reference operation by operation, so the mask
agrees exactly and values to float rounding:

* ``pix @ M^T`` is evaluated left to right without FMA, as torch's CPU matmul does, and
  ``addcmul(t, ., d)`` as one fused multiply-add, as torch's vectorised CPU kernel does
  (an explicit ``llvm.fma``; everything else is compiled with ``fastmath=False``). This
  matters: one ulp in a position moves a bilinear weight next to the 1e-3 snapping
  threshold by up to ~1e-3 relative.
* exp and log1p are evaluated in float64 and rounded once (torch uses SLEEF; the two
  agree on >99% of inputs and differ by one ulp otherwise).
* same validity rules (finite depth > 0, z > 1e-6 x depth_unit: relative to the scene
  scale, so depth in any unit renders), snapping, clamps of min/max log z,
  ``reciprocal(max) * -alpha``, and only weights > 0 are accumulated.

What differs is the summation order of the scatter (index_add_), hence ~1e-7 relative
differences, larger (~1e-5) where all weights of a pixel are float32 denormals.

The per-(batch, frame) 3x3 maps are computed in float64 like the reference (``_item_maps``,
compiled too: numpy's dozen tiny calls cost ~50 us a step), then rounded to float32.
Kernels are cached on disk (``cache=True``): the first call in a fresh environment
compiles (seconds, see ``warmup()``); later processes load the cache (~0.3 s).
This module works on numpy arrays; ``warp.forward_warp_numba`` is its tensor front end.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core import types as _nbtypes
from numba.extending import intrinsic as _intrinsic

from .lane_threads import run_lanes

__all__ = ["inverse_K", "splat", "splat_maps", "warmup"]

# float32 constants (numba freezes globals; keeping them float32 keeps the arithmetic float32)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_SNAP = np.float32(1e-3)  # positions within this of an integer are snapped to it
_ZMIN = np.float32(1e-6)  # points need z > _ZMIN * depth_unit in the target camera
_BIG = np.float32(1e30)  # clamp of the per-item min log z (no valid point)
_MAXLO = np.float32(1e-6)  # clamp of the per-item max log z
_U8 = np.float32(255.0)
# float64 constants of the exp / log1p evaluations
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = 1.4142135623730951
_C = tuple(1.0 / math.factorial(i) for i in range(12))  # exp Taylor coefficients
_R = tuple(1.0 / i if i % 2 else 0.0 for i in range(18))  # atanh series coefficients


@_intrinsic
def _fma(typingctx, a, b, c):
    """Fused a * b + c in float32 (one rounding), as torch.addcmul computes it."""
    sig = _nbtypes.float32(_nbtypes.float32, _nbtypes.float32, _nbtypes.float32)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@_intrinsic
def _f64_bits(typingctx, x):
    """Bit pattern of a float64 as int64."""
    sig = _nbtypes.int64(_nbtypes.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(_nbtypes.int64))

    return sig, codegen


@_intrinsic
def _bits_f64(typingctx, x):
    """float64 with the given int64 bit pattern."""
    sig = _nbtypes.float64(_nbtypes.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(_nbtypes.float64))

    return sig, codegen


# float32 exp and log1p evaluated in float64 (error ~1e-15, far below float32 rounding),
# then rounded once: the correctly rounded float32 result, which is what torch's SLEEF
# u10 kernels return in >99% of cases. Branch-free so that loops over them vectorise
# (libm's log1p costs ~9 ns a call and blocks vectorisation).
@njit(inline="always", fastmath=False, error_model="numpy")
def _exp32(x32):
    """exp of a float32, as float32; 0 below about -103.97 (float32 underflow)."""
    x = np.float64(x32)
    x = -120.0 if x < -120.0 else x  # selects (not min/max): NaN stays NaN, loops vectorise
    x = 100.0 if x > 100.0 else x
    k = math.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln2 / 2; NaN for NaN
    k = k if k == k else 0.0  # keep NaN out of the float -> int conversion
    p = 1.0 + r * (1.0 + r * (_C[2] + r * (_C[3] + r * (_C[4] + r * (_C[5] + r * (
        _C[6] + r * (_C[7] + r * (_C[8] + r * (_C[9] + r * (_C[10] + r * _C[11]))))))))))  # fmt: skip
    return np.float32(p * _bits_f64((np.int64(k) + 1023) << 52))


@njit(inline="always", fastmath=False, error_model="numpy")
def _log1p32(y32):
    """log1p of a float32 >= 0, as float32 (other inputs: unspecified, no trap)."""
    y = np.float64(y32)
    x = 1.0 + y
    bits = _f64_bits(x)
    e = np.float64((bits >> 52) - 1023)
    m = _bits_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # x = m 2^e, m in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = (m - 1.0) / (m + 1.0)  # log m = 2 atanh f, |f| <= 0.172
    f2 = f * f
    q = 1.0 + f2 * (_R[3] + f2 * (_R[5] + f2 * (_R[7] + f2 * (_R[9] + f2 * (
        _R[11] + f2 * (_R[13] + f2 * (_R[15] + f2 * _R[17])))))))  # fmt: skip
    lg = e * _LN2_HI + (e * _LN2_LO + 2.0 * f * q)
    lg = lg - ((x - 1.0) - y) / x  # rounding error of 1 + y (first order)
    return np.float32(lg) if y32 < np.float32(np.inf) else y32


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _project(depth, idx, M, T, du, U, V, Z, LZ):
    """Target-camera positions of one batch item's points (branch-free, vectorised):
    frame f is source frame idx[f] of depth [N, H, W], moved by M[f], T[f].

    U, V: snapped pixel positions; Z: depth in the target camera; LZ: log1p(Z / du), or
    NaN for an invalid point (depth <= 0 or not finite, or Z <= 1e-6 du). Returns the
    (min, max) of LZ over the valid points ((inf, 0) when there is none).
    """
    F, H, W = idx.shape[0], depth.shape[1], depth.shape[2]
    nan = np.float32(np.nan)
    inf = np.float32(np.inf)
    half = np.float32(0.5)
    zmin = _ZMIN * du
    for f in range(F):
        m00, m01, m02 = M[f, 0, 0], M[f, 0, 1], M[f, 0, 2]
        m10, m11, m12 = M[f, 1, 0], M[f, 1, 1], M[f, 1, 2]
        m20, m21, m22 = M[f, 2, 0], M[f, 2, 1], M[f, 2, 2]
        t0, t1, t2 = T[f, 0], T[f, 1], T[f, 2]
        src = depth[idx[f]]
        for y in range(H):
            fy = np.float32(y)
            row = src[y]
            ur, vr, zr, lr = U[f, y], V[f, y], Z[f, y], LZ[f, y]
            for x in range(W):
                d = row[x]
                fx = np.float32(x)
                # pts = addcmul(t, pix @ M^T, d): matmul row left to right, then one fma
                px = _fma((fx * m00 + fy * m01) + m02, d, t0)
                py = _fma((fx * m10 + fy * m11) + m12, d, t1)
                pz = _fma((fx * m20 + fy * m21) + m22, d, t2)
                z_ok = pz > zmin
                ok = (d > _F0) & (d < inf) & z_ok  # NaN fails every comparison
                iz = _F1 / (pz if z_ok else _F1)
                u = px * iz
                v = py * iz
                # snap to a pixel centre within 1e-3 (the rounding mode of r is
                # irrelevant: a half-integer is never within 1e-3 of an integer)
                r = np.floor(u + half)
                u = r if abs(u - r) < _SNAP else u
                r = np.floor(v + half)
                v = r if abs(v - r) < _SNAP else v
                ur[x] = u
                vr[x] = v
                zr[x] = pz
                lz = _log1p32(pz / du)
                lr[x] = lz if ok else nan
    mn = inf
    mx = _F0
    for f in range(F):
        for y in range(H):
            for x in range(W):
                lz = LZ[f, y, x]
                if lz > mx:
                    mx = lz
                if lz < mn:
                    mn = lz
    return mn, mx


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _splat_item(rgb, u8, depth, idx, M, T, neg_alpha, du, out_rgb, out_depth, out_mask, out_w):
    """Splat source frames idx [F] of rgb [N,H,W,C] / depth [N,H,W] with the per-frame
    maps M [F,3,3], T [F,3] into one item's outputs [Ho,Wo(,C)], normalised."""
    F, H, W, C = idx.shape[0], rgb.shape[1], rgb.shape[2], rgb.shape[3]
    Ho, Wo = out_depth.shape[0], out_depth.shape[1]
    U = np.empty((F, H, W), np.float32)
    V = np.empty((F, H, W), np.float32)
    Z = np.empty((F, H, W), np.float32)
    ZW = np.empty((F, H, W), np.float32)
    mn, mx = _project(depth, idx, M, T, du, U, V, Z, ZW)
    # as in the reference: min clamped to 1e30, scale = reciprocal(max.clamp_min(1e-6)) * -alpha
    if mn > _BIG:
        mn = _BIG
    if mx < _MAXLO:
        mx = _MAXLO
    s = (_F1 / mx) * neg_alpha
    # soft z-buffer weights from the log-depths, in place (NaN stays NaN: invalid)
    zws = ZW.reshape(F * H * W)
    for i in range(F * H * W):
        zws[i] = _exp32((zws[i] - mn) * s)
    acc = np.zeros((2, Ho, Wo, C + 2), np.float32)  # [primary | secondary, y, x, (rgb, z, 1)]
    # need[y + 1, x + 1]: pixel (y, x) has no primary weight, so secondary frames matter
    # there (False on the 1-pixel border outside the image: no bounds checks below)
    need = np.zeros((Ho + 2, Wo + 2), np.bool_)
    vals = np.empty(C + 2, np.float32)
    vals[C + 1] = _F1
    fWo = np.float32(Wo - 1)
    fHo = np.float32(Ho - 1)
    for f in range(F):
        g = 0 if f == 0 else 1
        if f == 1:
            for yy in range(Ho):
                for xx in range(Wo):
                    need[yy + 1, xx + 1] = not (acc[0, yy, xx, C + 1] > _F0)
        src = rgb[idx[f]]
        for y in range(H):
            for x in range(W):
                zw = ZW[f, y, x]
                u = U[f, y, x]
                v = V[f, y, x]
                bu = np.floor(u)
                bv = np.floor(v)
                # valid, and some corner inside the image (negated: NaN is rejected)
                if not (zw == zw and bu >= np.float32(-1.0) and bu <= fWo and bv >= np.float32(-1.0) and bv <= fHo):
                    continue
                x0 = int(bu)
                y0 = int(bv)
                if g == 1 and not (need[y0 + 1, x0 + 1] | need[y0 + 1, x0 + 2] | need[y0 + 2, x0 + 1]
                                   | need[y0 + 2, x0 + 2]):
                    continue  # every corner is covered by the primary frame: this point is unused
                fu = u - bu
                fv = v - bv
                zz = Z[f, y, x]
                if C == 3:  # the common case, with the values in registers
                    c0 = np.float32(src[y, x, 0])
                    c1 = np.float32(src[y, x, 1])
                    c2 = np.float32(src[y, x, 2])
                    if u8:
                        c0, c1, c2 = c0 / _U8, c1 / _U8, c2 / _U8
                else:
                    for c in range(C):
                        vals[c] = np.float32(src[y, x, c]) / _U8 if u8 else np.float32(src[y, x, c])
                    vals[C] = zz
                for cy in range(2):
                    yy = y0 + cy
                    wy = fv if cy == 1 else _F1 - fv
                    for cx in range(2):
                        xx = x0 + cx
                        if g == 0:
                            if yy < 0 or yy >= Ho or xx < 0 or xx >= Wo:
                                continue
                        elif not need[yy + 1, xx + 1]:
                            continue  # outside, or covered by the primary frame: unused
                        w = (wy * (fu if cx == 1 else _F1 - fu)) * zw
                        if not (w > _F0):  # as the reference: zero (underflowed) weights add nothing
                            continue
                        if C == 3:
                            acc[g, yy, xx, 0] += c0 * w
                            acc[g, yy, xx, 1] += c1 * w
                            acc[g, yy, xx, 2] += c2 * w
                            acc[g, yy, xx, 3] += zz * w
                            acc[g, yy, xx, 4] += w
                        else:
                            for c in range(C + 2):
                                acc[g, yy, xx, c] += vals[c] * w
    # primary where it has weight, else secondary; average by weight
    for yy in range(Ho):
        for xx in range(Wo):
            g = 0 if acc[0, yy, xx, C + 1] > _F0 else 1
            ws = acc[g, yy, xx, C + 1]
            m = ws > _F0
            den = ws if m else _F1
            for c in range(C):
                out_rgb[yy, xx, c] = acc[g, yy, xx, c] / den
            out_depth[yy, xx] = acc[g, yy, xx, C] / den
            out_mask[yy, xx] = m
            out_w[yy, xx] = ws


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _splat_serial(rgb, u8, depth, idx, M, T, neg_alpha, du, out_rgb, out_depth, out_mask, out_w):
    for b in range(idx.shape[0]):  # lanes in order; lane_threads splits a batch across threads
        _splat_item(rgb, u8, depth, idx[b], M[b], T[b], neg_alpha, du, out_rgb[b], out_depth[b], out_mask[b],
                    out_w[b])


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _item_maps(K_out, inv_K, c2w, idx, tgt, M, T):
    """One item's maps of source (u, v, 1) * z to target pixels * z' for the source cameras
    c2w[idx[f]] and the target camera tgt [4,4]: M[f] = K_out R K^-1, T[f] = K_out t
    (R, t: the rows 0..2 of tgt^-1 c2w[idx[f]]), in float64 as the reference, rounded once
    to M's and T's dtype (float32 for the splat, float64 for the mesh)."""
    inv = np.empty((3, 4))  # rows 0..2 of tgt^-1 = [R^T, -R^T t] (row 3 is 0 0 0 1)
    for i in range(3):
        for j in range(3):
            inv[i, j] = tgt[j, i]
        inv[i, 3] = ((-tgt[0, i]) * tgt[0, 3] + (-tgt[1, i]) * tgt[1, 3]) + (-tgt[2, i]) * tgt[2, 3]
    rel = np.empty((3, 4))
    KR = np.empty((3, 3))
    for f in range(idx.shape[0]):
        src = c2w[idx[f]]
        for i in range(3):
            for j in range(4):
                rel[i, j] = (((inv[i, 0] * src[0, j] + inv[i, 1] * src[1, j]) + inv[i, 2] * src[2, j])
                             + inv[i, 3] * src[3, j])
        for i in range(3):
            for j in range(3):
                KR[i, j] = (K_out[i, 0] * rel[0, j] + K_out[i, 1] * rel[1, j]) + K_out[i, 2] * rel[2, j]
            T[f, i] = (K_out[i, 0] * rel[0, 3] + K_out[i, 1] * rel[1, 3]) + K_out[i, 2] * rel[2, 3]
        for i in range(3):
            for j in range(3):
                M[f, i, j] = (KR[i, 0] * inv_K[0, j] + KR[i, 1] * inv_K[1, j]) + KR[i, 2] * inv_K[2, j]


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _maps_serial(K_out, inv_K, src, tgt, M, T):
    idx = np.arange(src.shape[1])
    for b in range(src.shape[0]):
        _item_maps(K_out[b], inv_K[b], src[b], idx, tgt[b], M[b], T[b])


_INV_K: dict[tuple, np.ndarray] = {}


def inverse_K(K: np.ndarray) -> np.ndarray:
    """np.linalg.inv of float64 intrinsics [3,3] or [B,3,3], cached by value (a world's K
    is the same every step; the cache keeps the exact numpy result)."""
    key = (K.shape, K.tobytes())
    inv = _INV_K.get(key)
    if inv is None:
        if len(_INV_K) >= 256:
            _INV_K.clear()
        inv = _INV_K[key] = np.linalg.inv(K)
    return inv


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def splat_maps(K, src_c2w, tgt_c2w, K_tgt=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-(b, f) map of source (u, v, 1) * z to target pixels * z': M [B,F,3,3], T [B,F,3]
    (float32, C-contiguous). src_c2w [B,F,4,4], tgt_c2w [B,4,4], K and K_tgt [3,3] or
    [B,3,3] (arrays)."""
    src, tgt = _f64(src_c2w), _f64(tgt_c2w)
    B, F = src.shape[:2]
    K_src = _f64(np.broadcast_to(_f64(K), (B, 3, 3)))
    K_out = K_src if K_tgt is None else _f64(np.broadcast_to(_f64(K_tgt), (B, 3, 3)))
    M = np.empty((B, F, 3, 3), np.float32)
    T = np.empty((B, F, 3), np.float32)
    _maps_serial(K_out, inverse_K(K_src), src, tgt, M, T)
    return M, T


def splat(rgb: np.ndarray, depth: np.ndarray, idx: np.ndarray, M: np.ndarray, T: np.ndarray, alpha: float,
          depth_unit: float, out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frames idx [B,F] of rgb [N,H,W,C] (uint8, converted to [0, 1] in the kernel, or
    float32) and depth [N,H,W] float32, both C-contiguous, splatted with the maps M, T of
    splat_maps into images of out_size: (rgb, depth, mask, weight) [B,Ho,Wo(,C)], as
    warp.forward_warp_torch (no checks here: warp.forward_warp_numba makes them)."""
    B, (Ho, Wo), C = idx.shape[0], out_size, rgb.shape[3]
    out_rgb = np.empty((B, Ho, Wo, C), np.float32)
    out_depth = np.empty((B, Ho, Wo), np.float32)
    out_mask = np.empty((B, Ho, Wo), np.bool_)
    out_w = np.empty((B, Ho, Wo), np.float32)
    args = (rgb, rgb.dtype == np.uint8, depth, idx, M, T, np.float32(-float(alpha)), np.float32(depth_unit),
            out_rgb, out_depth, out_mask, out_w)  # fmt: skip
    run_lanes(_splat_serial, args, (3, 4, 5, 8, 9, 10, 11), B)
    return out_rgb, out_depth, out_mask, out_w


def warmup(uint8: bool = False) -> float:
    """Compile (or load from numba's on-disk cache) the maps and the splat for float32 rgb
    (and uint8 rgb with uint8=True), for one lane and for a batch of two.

    Returns the seconds it took: a few seconds on a fresh install, ~0.3 s from the cache.
    """
    import time

    t0 = time.perf_counter()
    K = np.array([[4.0, 0.0, 1.5], [0.0, 4.0, 1.5], [0.0, 0.0, 1.0]])
    for B in (1, 2):
        eye = np.broadcast_to(np.eye(4), (B, 1, 4, 4))
        M, T = splat_maps(K, eye, eye[:, 0])
        idx = np.arange(B, dtype=np.int64).reshape(B, 1)
        for dt in (np.float32, np.uint8) if uint8 else (np.float32,):
            splat(np.zeros((B, 4, 4, 3), dt), np.ones((B, 4, 4), np.float32), idx, M, T, 50.0, 1.0, (4, 4))
    return time.perf_counter() - t0
