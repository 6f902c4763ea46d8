"""Numba CPU kernel for ``view.finish_splat``: crack mask, uint8 render and push-pull fill.

The torch version is a few dozen small tensor ops (pads, pools, upsamples, wheres) whose
dispatch overhead dominates at 64x64; here each lane runs in one compiled function, the
lanes split across threads by ``lane_threads`` (each writes only its own output slices).
``warp_view_numba`` fuses the camera maps, the splat and this step per lane and reads the
clip's frames in place (no gather of the neighbour frames). Arithmetic is float32 in the
torch version's order (window sums then one division for the pooling,
torch's source-index rule and lerp form for the bilinear upsampling), so results agree to
float rounding; the uint8 image can differ by one level where a value rounds at .5.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .lane_threads import run_lanes
from .splat_numba import _F0, _F1, _U8, _item_maps, _splat_item, inverse_K

__all__ = ["finish_splat_numba", "warp_view_numba"]

_F4 = np.float32(4.0)
_EPS = np.float32(1e-12)
_HALF = np.float32(0.5)
_QUARTER = np.float32(0.25)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _pool_plane(p, out):
    """2x2 average of plane p [H,W] into out (ceil mode: edge windows average their
    in-bounds pixels), summed row by row then divided once, as torch's avg_pool2d."""
    H, W = p.shape
    h2, w2 = out.shape
    he, we = H // 2, W // 2  # full windows
    for i in range(he):
        for j in range(we):
            out[i, j] = (((p[2 * i, 2 * j] + p[2 * i, 2 * j + 1]) + p[2 * i + 1, 2 * j]) + p[2 * i + 1, 2 * j + 1]) / _F4
    if we < w2:  # last column: 2x1 windows
        for i in range(he):
            out[i, we] = (p[2 * i, 2 * we] + p[2 * i + 1, 2 * we]) / np.float32(2.0)
    if he < h2:  # last row: 1x2 windows (and the 1x1 corner)
        for j in range(we):
            out[he, j] = (p[2 * he, 2 * j] + p[2 * he, 2 * j + 1]) / np.float32(2.0)
        if we < w2:
            out[he, we] = p[2 * he, 2 * we]


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _src_index(d, n_in, n_out):
    """torch's bilinear source index for output index d (align_corners=False): (i0, i1, lambda)."""
    r = (np.float32(n_in) / np.float32(n_out)) * (np.float32(d) + _HALF) - _HALF
    if r < _F0:
        r = _F0
    k = int(r)
    return k, (k + 1 if k < n_in - 1 else k), r - np.float32(k)


@njit(cache=True, nogil=True)
def _lane_scratch(H, W):
    """float32 elements of one lane's workspace in _finish_item: the crack buffer, then
    the pyramid from level 1 down and two ping-pong fill buffers of level 1's size."""
    n, h, w = 0, (H + 1) // 2, (W + 1) // 2
    h1, w1 = h, w
    while True:
        n += 5 * h * w
        if min(h, w) <= 1:
            break
        h, w = (h + 1) // 2, (w + 1) // 2
    return (H + 2) * (W + 2) + n + 2 * 4 * h1 * w1


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _pyramid_fill(scratch, C, H, W):
    """Push-pull from a level already stored at the start of scratch as [C + 1, H, W]
    (weighted values, then the weight plane); returns that level filled, [C, H, W].

    The coarser levels follow it in scratch, then two ping-pong fill buffers.
    """
    offs = np.zeros(64, np.int64)  # start of each level in scratch
    hs = np.zeros(64, np.int64)
    wds = np.zeros(64, np.int64)
    hs[0], wds[0] = H, W
    n = 1
    end = (C + 1) * H * W
    while min(hs[n - 1], wds[n - 1]) > 1:  # push: weighted means down the pyramid
        h, wd = hs[n - 1], wds[n - 1]
        if scratch[offs[n - 1] + C * h * wd: offs[n - 1] + (C + 1) * h * wd].min() >= _QUARTER:
            break  # every cell fully trusted (a = 1 below): coarser levels change nothing
        prev = scratch[offs[n - 1]: offs[n - 1] + (C + 1) * h * wd].reshape(C + 1, h, wd)
        h2, w2 = (h + 1) // 2, (wd + 1) // 2
        offs[n], hs[n], wds[n] = end, h2, w2
        nxt = scratch[end: end + (C + 1) * h2 * w2].reshape(C + 1, h2, w2)
        end += (C + 1) * h2 * w2
        for c in range(C + 1):
            _pool_plane(prev[c], nxt[c])
        n += 1
    h, wd = hs[n - 1], wds[n - 1]
    top = scratch[offs[n - 1]: offs[n - 1] + (C + 1) * h * wd].reshape(C + 1, h, wd)
    bufs = (scratch[end: end + C * H * W], scratch[end + C * H * W: end + 2 * C * H * W])
    filled = bufs[(n - 1) % 2][: C * h * wd].reshape(C, h, wd)
    for c in range(C):
        for i in range(h):
            for j in range(wd):
                filled[c, i, j] = top[c, i, j] / max(top[C, i, j], _EPS)
    for k in range(n - 2, -1, -1):  # pull: coarse fills fine
        h, wd = hs[k], wds[k]
        hi, wi = filled.shape[1], filled.shape[2]
        lv = scratch[offs[k]: offs[k] + (C + 1) * h * wd].reshape(C + 1, h, wd)
        out = bufs[k % 2][: C * h * wd].reshape(C, h, wd)
        for i in range(h):
            i0, i1, li = _src_index(i, hi, h)
            for j in range(wd):
                lw = lv[C, i, j]
                den = max(lw, _EPS)
                if lw >= _QUARTER:  # fully trusted (a = 1): the coarse level adds nothing
                    for c in range(C):
                        out[c, i, j] = lv[c, i, j] / den
                    continue
                a = lw * _F4
                j0, j1, lj = _src_index(j, wi, wd)
                for c in range(C):
                    up = (_F1 - li) * ((_F1 - lj) * filled[c, i0, j0] + lj * filled[c, i0, j1]) + li * (
                        (_F1 - lj) * filled[c, i1, j0] + lj * filled[c, i1, j1])  # fmt: skip
                    out[c, i, j] = lv[c, i, j] / den * a + up * (_F1 - a)
        filled = out
    return filled


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _finish_item(rgb, depth, mask, ratio, fill_rgb, out_render, out_mask, out_rgb, out_depth, scratch):
    """One lane: rgb [H,W,3], depth [H,W], mask [H,W] in; the four outputs written.
    scratch: 1-D float32 workspace of _lane_scratch(H, W) elements."""
    H, W = depth.shape
    inf = np.float32(np.inf)
    far = scratch[: (H + 2) * (W + 2)].reshape(H + 2, W + 2)  # depth where covered, inf elsewhere
    for x in range(W + 2):
        far[0, x] = inf
        far[H + 1, x] = inf
    for y in range(H):
        far[y + 1, 0] = inf
        far[y + 1, W + 1] = inf
        for x in range(W):
            far[y + 1, x + 1] = depth[y, x] if mask[y, x] else inf
    # cracks: a covered pixel with nearer covered pixels on opposite sides is background
    holes = 0
    for y in range(H):
        for x in range(W):
            lim = depth[y, x] / ratio
            crack = ((far[y + 1, x] < lim) & (far[y + 1, x + 2] < lim)) | (
                (far[y, x + 1] < lim) & (far[y + 2, x + 1] < lim))  # fmt: skip
            m = mask[y, x] & ~crack
            out_mask[y, x] = m
            holes += 0 if m else 1
    for y in range(H):
        for x in range(W):
            m = out_mask[y, x]
            out_depth[y, x] = depth[y, x]
            for c in range(3):
                v = min(max(rgb[y, x, c], _F0), _F1)
                q = np.uint8(v * _U8 + _HALF) if m else np.uint8(0)
                out_render[y, x, c] = q
                out_rgb[y, x, c] = q
    if holes == 0:
        return
    C = 4 if fill_rgb else 1
    if min(H, W) <= 1:  # no coarser level: holes become 0, as the reference
        for y in range(H):
            for x in range(W):
                if not out_mask[y, x]:
                    out_depth[y, x] = _F0
        return
    # Level 1 of the pyramid straight from the outputs (level 0 is never stored: its
    # covered pixels keep their values and its holes take the upsampled level 1).
    h1, w1 = (H + 1) // 2, (W + 1) // 2
    o = (H + 2) * (W + 2)
    lv1 = scratch[o: o + (C + 1) * h1 * w1].reshape(C + 1, h1, w1)
    for i in range(h1):
        y1 = min(2 * i + 2, H)
        for j in range(w1):
            x1 = min(2 * j + 2, W)
            cnt = np.float32((y1 - 2 * i) * (x1 - 2 * j))
            sw, sd, s0, s1, s2 = _F0, _F0, _F0, _F0, _F0
            for yy in range(2 * i, y1):  # holes add exact zeros (value x weight 0): skipped
                for xx in range(2 * j, x1):
                    if out_mask[yy, xx]:
                        sw += _F1
                        sd += out_depth[yy, xx]
                        s0 += np.float32(out_render[yy, xx, 0])
                        s1 += np.float32(out_render[yy, xx, 1])
                        s2 += np.float32(out_render[yy, xx, 2])
            lv1[C, i, j] = sw / cnt
            lv1[C - 1, i, j] = sd / cnt
            if fill_rgb:
                lv1[0, i, j] = s0 / cnt
                lv1[1, i, j] = s1 / cnt
                lv1[2, i, j] = s2 / cnt
    filled = _pyramid_fill(scratch[o:], C, h1, w1)
    for y in range(H):
        i0, i1, li = _src_index(y, h1, H)
        for x in range(W):
            if out_mask[y, x]:
                continue
            j0, j1, lj = _src_index(x, w1, W)
            for c in range(C):
                up = (_F1 - li) * ((_F1 - lj) * filled[c, i0, j0] + lj * filled[c, i0, j1]) + li * (
                    (_F1 - lj) * filled[c, i1, j0] + lj * filled[c, i1, j1])  # fmt: skip
                if c == C - 1:
                    out_depth[y, x] = up
                else:  # round half to even (torch.round), clamp, quantise
                    out_rgb[y, x, c] = np.uint8(min(max(np.rint(up), _F0), _U8))


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _finish_serial(rgb, depth, mask, ratio, fill_rgb, out_render, out_mask, out_rgb, out_depth):
    scratch = np.empty(_lane_scratch(depth.shape[1], depth.shape[2]), np.float32)  # reused lane after lane
    for b in range(depth.shape[0]):
        _finish_item(rgb[b], depth[b], mask[b], ratio, fill_rgb, out_render[b], out_mask[b], out_rgb[b], out_depth[b],
                     scratch)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _warp_view_serial(rgb, u8, depth, K, inv_K, c2w, idx, tgt, neg_alpha, du, fill_rgb, ratio, out_render, out_mask,
                      out_rgb, out_depth):
    """Lane after lane: its maps, its splat, its finish. K, inv_K [1 or lanes, 3, 3]; the
    per-lane workspaces are made once per call and reused."""
    F, H, W = idx.shape[1], depth.shape[1], depth.shape[2]
    M = np.empty((F, 3, 3), np.float32)
    T = np.empty((F, 3), np.float32)
    s_rgb = np.empty((H, W, 3), np.float32)
    s_depth = np.empty((H, W), np.float32)
    s_mask = np.empty((H, W), np.bool_)
    s_w = np.empty((H, W), np.float32)
    scratch = np.empty(_lane_scratch(H, W), np.float32)
    for b in range(idx.shape[0]):
        k = 0 if K.shape[0] == 1 else b
        _item_maps(K[k], inv_K[k], c2w, idx[b], tgt[b], M, T)
        _splat_item(rgb, u8, depth, idx[b], M, T, neg_alpha, du, s_rgb, s_depth, s_mask, s_w)
        _finish_item(s_rgb, s_depth, s_mask, ratio, fill_rgb, out_render[b], out_mask[b], out_rgb[b], out_depth[b],
                     scratch)


def _outputs(B: int, H: int, W: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(render, covered, rgb, depth) to be written by the kernels."""
    return (np.empty((B, H, W, 3), np.uint8), np.empty((B, H, W), np.bool_), np.empty((B, H, W, 3), np.uint8),
            np.empty((B, H, W), np.float32))


def warp_view_numba(frames: np.ndarray, depth: np.ndarray, K: np.ndarray, c2w: np.ndarray, idx: np.ndarray,
                    tgt_c2w: np.ndarray, alpha: float, depth_unit: float = 1.0, fill_rgb: bool = True,
                    ratio: float = 1.1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Splat frames idx [B, F] of a clip (frames [N,H,W,3] uint8 or float in [0, 1], depth
    [N,H,W], poses c2w [N,4,4], intrinsics K [3,3] or [B,3,3]) into the cameras tgt_c2w
    [B,4,4] and finish each view, lanes split across threads, without gathering the frames:
    one compiled call does the maps, the splat and the finish of each lane.
    Returns (render, covered, rgb, depth) as finish_splat_numba. The inputs must have been
    checked (view.warp_view does): indices outside the clip are not caught here."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    B, H, W = idx.shape[0], frames.shape[1], frames.shape[2]
    u8 = frames.dtype == np.uint8
    frames = np.ascontiguousarray(frames) if u8 else np.ascontiguousarray(frames, dtype=np.float32)
    K = np.ascontiguousarray(K, dtype=np.float64).reshape(-1, 3, 3)
    out = _outputs(B, H, W)
    args = (frames, u8, np.ascontiguousarray(depth, dtype=np.float32), K, inverse_K(K),
            np.ascontiguousarray(c2w, dtype=np.float64), idx, np.ascontiguousarray(tgt_c2w, dtype=np.float64),
            np.float32(-float(alpha)), np.float32(depth_unit), bool(fill_rgb), np.float32(ratio), *out)  # fmt: skip
    run_lanes(_warp_view_serial, args, (6, 7, 12, 13, 14, 15) if K.shape[0] == 1 else (3, 4, 6, 7, 12, 13, 14, 15), B)
    return out


def finish_splat_numba(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, fill_rgb: bool = True,
                       ratio: float = 1.1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(render uint8, covered, rgb uint8, depth) from a splat's float rgb [B,H,W,3] in [0, 1],
    depth [B,H,W] and mask [B,H,W]; see view.finish_splat for the meaning."""
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    out = _outputs(*depth.shape)
    args = (np.ascontiguousarray(rgb, dtype=np.float32), depth, np.ascontiguousarray(mask, dtype=np.bool_),
            np.float32(ratio), bool(fill_rgb), *out)
    run_lanes(_finish_serial, args, (0, 1, 2, 5, 6, 7, 8), depth.shape[0])
    return out
