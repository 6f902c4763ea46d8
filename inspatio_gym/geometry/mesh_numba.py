"""Numba CPU kernel of the surface warp: same semantics as ``mesh.mesh_warp_torch``.

Each source frame is a triangle mesh over its depth map: a vertex at every pixel centre,
two triangles per pixel quad (a b c and b e c for the quad a b / c e). A triangle is kept
when its three vertices are valid and it does not span a depth discontinuity: along each
edge, |log d_i - log d_j| <= max(min_jump, slope * edge length / f) (slope: the tangent of
the most grazing surface kept; a box in front of a wall jumps by far more). Kept triangles
are rasterised at the target pixel centres with a z-buffer (the nearest wins; at equal
depth the first drawn) and perspective-correct interpolation of colour and depth, so a
surface seen closer than in the reference stays closed: no stipple, no cracks.

Far pixels (sky, distant background) are vertices at infinity: they move with the
camera's rotation only and lie behind every finite surface; a triangle mixing far and
finite vertices is a discontinuity. Frame 0 of an item is the primary (time-aligned)
frame; the others only draw where it left a pixel empty, as in the splat. For a view
(mesh_view), the first frames' meshes are then extended `skirt` pixels past the frame's
border with the edge pixels' colour and depth, drawn only into what is still empty: seeds
of the hole fill, handed back to the holes of the render and mask after it (_skirt).

Positions and barycentrics are float64; vertices within 1e-3 px of a pixel centre snap
to it, so the source pose reproduces the reference exactly. Items (lanes) are split
across threads by ``lane_threads``; each writes only its own outputs. A view batch of
fewer lanes than threads (a single env at 128 px or more) splits instead each lane's
primary triangles, most of its time, by block rows into private z-buffers merged in row
order: bit for bit the same views (a test), 0.93x the time at 256 px on 2 cores (1.11x
faster than one thread still with a busy process on the cores).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lane_threads import num_threads, run_lanes, run_parts
from .splat_numba import _item_maps, inverse_K
from .view_numba import _finish_item, _lane_scratch, _outputs

__all__ = ["mesh", "mesh_maps", "mesh_view", "warmup"]

_BLOCK = 8  # secondary frames are culled in blocks of _BLOCK x _BLOCK quads
_SNAP = 1e-3  # vertices within this of a pixel centre snap to it (exact source-pose render)
#: frames of at least this many pixels, in a batch of fewer lanes than threads, have each
#: lane's primary raster split across the threads (a few numba calls and a thread hand-off,
#: tens of microseconds, against 0.7 ms of raster at 128 px; side by side at 128 and 256 px
#: a single view took 0.94x and 0.93x the time; a 64 px lane, 0.2 ms, stays on one thread)
SPLIT_PIXELS = 96 * 96
_SKIRT = -2  # owner of a pixel drawn by frame f's skirt: _SKIRT - f
#: frames whose skirt is drawn (the primary and its two nearest neighbours: on held-out
#: worlds at 128 px the skirts of all 5 default frames gave 26.48 dB full frame, these 3
#: 26.48, the primary's alone 26.32, none 26.27; each skirt costs ~6 us per 64 px lane)
_SKIRT_FRAMES = 3


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _project(depth, far, has_far, src, M, T, zmin, U, V, IZ, D, FL):
    """Target positions of one source frame's vertices: U, V (snapped), IZ = 1 / z', D the
    source depth, FL 0 (invalid), 1 (finite) or 2 (far: a direction, rotation only)."""
    H, W = depth.shape[1], depth.shape[2]
    m00, m01, m02 = M[0, 0], M[0, 1], M[0, 2]
    m10, m11, m12 = M[1, 0], M[1, 1], M[1, 2]
    m20, m21, m22 = M[2, 0], M[2, 1], M[2, 2]
    t0, t1, t2 = T[0], T[1], T[2]
    for y in range(H):
        fy = float(y)
        bx = m01 * fy + m02
        by = m11 * fy + m12
        bz = m21 * fy + m22
        for x in range(W):
            d = float(depth[src, y, x])
            fx = float(x)
            rx = m00 * fx + bx
            ry = m10 * fx + by
            rz = m20 * fx + bz
            is_far = has_far and far[src, y, x]
            s = 0.0 if is_far else 1.0
            dd = 1.0 if is_far else d
            pz = rz * dd + t2 * s
            ok = d > 0.0 and d < math.inf and pz > (0.0 if is_far else zmin)
            iz = 1.0 / pz if ok else 0.0
            u = (rx * dd + t0 * s) * iz
            v = (ry * dd + t1 * s) * iz
            r = math.floor(u + 0.5)
            u = r if abs(u - r) < _SNAP else u
            r = math.floor(v + 0.5)
            v = r if abs(v - r) < _SNAP else v
            U[y, x] = u
            V[y, x] = v
            IZ[y, x] = iz
            D[y, x] = d
            FL[y, x] = (2 if is_far else 1) if ok else 0


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _keep(fa, fb, fc, da, db, dc, r1, r2):
    """A triangle is kept when its vertices are valid, all far or all finite, and no edge
    has a depth ratio above r1 (the quad's sides a-b, a-c) or r2 (its diagonal b-c): the
    second triangle of a quad, b e c, is passed as e c b (sides e-c, e-b, diagonal c-b)."""
    ok = (fa != 0) & (fa == fb) & (fa == fc)
    if ok and fa == 1:
        ok = ((max(da, db) <= r1 * min(da, db)) & (max(da, dc) <= r1 * min(da, dc))
              & (max(db, dc) <= r2 * min(db, dc)))
    return ok


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _keep_bit(fa, fb, fc, bit):
    """_keep with the depth-ratio part precomputed (bit, from _quad_bits)."""
    ok = (fa != 0) & (fa == fb) & (fa == fc)
    return ok and (fa == 2 or bit != 0)


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _bits_at(D, y, x, r1, r2):
    """The depth-ratio part of _keep for the quad at (y, x) of source depth D: bit 0,
    triangle a b c passes it; bit 1, triangle b e c (sides r1, the diagonal b-c r2)."""
    da, db, dc, de = D[y, x], D[y, x + 1], D[y + 1, x], D[y + 1, x + 1]
    t1 = ((max(da, db) <= r1 * min(da, db)) & (max(da, dc) <= r1 * min(da, dc))
          & (max(db, dc) <= r2 * min(db, dc)))
    t2 = ((max(db, de) <= r1 * min(db, de)) & (max(de, dc) <= r1 * min(de, dc))
          & (max(db, dc) <= r2 * min(db, dc)))
    return np.uint8(t1) | (np.uint8(t2) << np.uint8(1))


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _quad_bits(depth, src, r1, r2, QB):
    """QB [H-1, W-1]: bit 0, triangle a b c of each quad passes _keep's depth-ratio test;
    bit 1, triangle b e c. They depend on the source depth only, not on the pose: made
    once per primary frame and call, shared by its lanes (a secondary frame's are made in
    _triangles for the few quads its culling leaves: made for the whole frame, a single
    256 px lane ran 1.03x slower)."""
    H, W = depth.shape[1], depth.shape[2]
    for y in range(H - 1):
        for x in range(W - 1):
            QB[y, x] = _bits_at(depth[src], y, x, r1, r2)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _bits_of(depth, src, r1, r2, QK, slot, nq):
    """Source frame src's quad bits, made on first use in this call (slot: its row of QK)."""
    if slot[src] < 0:
        slot[src] = nq[0]
        nq[0] += 1
        _quad_bits(depth, src, r1, r2, QK[slot[src]])
    return QK[slot[src]]


@njit(cache=True, nogil=True)
def _bits_cache(N, B, F, H, W):
    """(QK, slot, nq): room for the quad bits of every primary frame a call may use."""
    QK = np.empty((max(min(N, B), 1), max(H - 1, 0), max(W - 1, 0)), np.uint8)
    return QK, np.full(N, -1, np.int64), np.zeros(1, np.int64)


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _owns(e, dx, dy):
    """The top-left rule: a pixel centre on an edge (e == 0) belongs to one of the two
    triangles sharing it, so a closed surface draws each pixel exactly once."""
    return (e > 0.0) | ((e == 0.0) & ((dy < 0.0) | ((dy == 0.0) & (dx > 0.0))))


@njit(fastmath=False, error_model="numpy", nogil=True)
def _weights(fx, fy, pu0, pv0, pz0, pu1, pv1, pz1, pu2, pv2, pz2):
    """Pixel centre (fx, fy) against a positively wound triangle: (area / z, and the
    perspective-correct weights x area) when inside under the top-left rule, else s <= 0.
    Scalars only, so LLVM inlines it (an array argument would cost a reference count)."""
    e0 = (pu1 - fx) * (pv2 - fy) - (pv1 - fy) * (pu2 - fx)  # edge 1 -> 2
    e1 = (pu2 - fx) * (pv0 - fy) - (pv2 - fy) * (pu0 - fx)  # edge 2 -> 0
    e2 = (pu0 - fx) * (pv1 - fy) - (pv0 - fy) * (pu1 - fx)  # edge 0 -> 1
    if e0 < 0.0 or e1 < 0.0 or e2 < 0.0:
        return -1.0, 0.0, 0.0, 0.0
    if (e0 == 0.0 or e1 == 0.0 or e2 == 0.0) and not (
            _owns(e0, pu2 - pu1, pv2 - pv1) & _owns(e1, pu0 - pu2, pv0 - pv2) & _owns(e2, pu1 - pu0, pv1 - pv0)):
        return -1.0, 0.0, 0.0, 0.0
    w0, w1, w2 = e0 * pz0, e1 * pz1, e2 * pz2
    return w0 + w1 + w2, w0, w1, w2


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _triangles(rgb, src, f, QB, r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask, owner, sat, yb0, yb1):
    """Rasterise the kept triangles of projected source frame f in quad rows yb0..yb1
    (yb0 a multiple of _BLOCK; quads in blocks of _BLOCK x _BLOCK, drawn block row after
    block row, so rows split into such chunks keep the drawing order): frame 0 everywhere, a secondary frame (f > 0) only into pixels no
    earlier frame drew (owner: the frame that drew a pixel, -1 none), skipping blocks and
    quads over no pixel still empty when the frame began (sat). Returns how many empty
    pixels it drew.

    izbuf holds 1 / z of the nearest surface drawn at a pixel (-1: none, 0: a far one), acc
    its (rgb, depth). The writes stay in the loop, written out once per triangle: a call
    with array arguments costs ~100 ns in numba (reference counting), more than drawing a
    small triangle, and a shared write helper inlined by numba still ran 1.26-1.33x slower
    per lane (measured side by side, 16 lanes at 64 px).

    QB: the source frame's quad bits (_quad_bits: the depth-ratio part of _keep, made once
    per call). A quad is culled by its box first (for a secondary frame most lie over no
    hole) and tested for kept triangles after: 0.96x the time per lane on a 16-lane walk at
    64 px, the bits 0.97x more; a quad with a vertex without depth is boxed by its kept
    triangle only (such a vertex projects to 0, 0 and would stretch the box to the corner)."""
    H, W = U.shape
    Ho, Wo = izbuf.shape
    sec = f > 0
    filled = 0
    for y0b in range(yb0, min(yb1, H - 1), _BLOCK):
        for x0b in range(0, W - 1, _BLOCK):
            y1b, x1b = min(y0b + _BLOCK, H - 1), min(x0b + _BLOCK, W - 1)
            if sec:  # a secondary frame's block of quads is skipped when no hole lies under it
                bu0, bu1, bv0, bv1 = math.inf, -math.inf, math.inf, -math.inf
                for y in range(y0b, y1b + 1):
                    for x in range(x0b, x1b + 1):
                        if FL[y, x] != 0:
                            bu0, bu1 = min(bu0, U[y, x]), max(bu1, U[y, x])
                            bv0, bv1 = min(bv0, V[y, x]), max(bv1, V[y, x])
                if not bu0 <= bu1:
                    continue
                qx0, qx1 = max(0, int(math.ceil(bu0))), min(Wo, int(math.ceil(bu1)))
                qy0, qy1 = max(0, int(math.ceil(bv0))), min(Ho, int(math.ceil(bv1)))
                if qx0 >= qx1 or qy0 >= qy1 or (sat[qy1, qx1] - sat[qy0, qx1] - sat[qy1, qx0] + sat[qy0, qx0]) == 0:
                    continue
            for y in range(y0b, y1b):
                for x in range(x0b, x1b):
                    fa, fb, fc, fe = FL[y, x], FL[y, x + 1], FL[y + 1, x], FL[y + 1, x + 1]
                    whole = (fa != 0) & (fb != 0) & (fc != 0) & (fe != 0)
                    ua, ub, uc, ue = U[y, x], U[y, x + 1], U[y + 1, x], U[y + 1, x + 1]
                    va, vb, vc, ve = V[y, x], V[y, x + 1], V[y + 1, x], V[y + 1, x + 1]
                    k1 = k2 = True
                    # a secondary frame's few quads past the culling are judged from D itself
                    qb = _bits_at(D, y, x, r1, r2) if sec else QB[y, x]
                    if not whole:  # a vertex without depth: the box of the triangle kept, if any
                        k1 = _keep_bit(fa, fb, fc, qb & 1)
                        k2 = _keep_bit(fb, fe, fc, qb & 2)
                        if not (k1 or k2):
                            continue
                        if not k2:
                            ue, ve = ua, va
                        elif not k1:
                            ua, va = ue, ve
                    # the pixel centres under the quad, [ceil(min), ceil(max)): the top-left
                    # rule owns no max edge; both triangles are tested against them
                    qx0 = max(0, int(math.ceil(min(min(ua, ub), min(uc, ue)))))
                    qx1 = min(Wo, int(math.ceil(max(max(ua, ub), max(uc, ue)))))
                    if qx0 >= qx1:
                        continue
                    qy0 = max(0, int(math.ceil(min(min(va, vb), min(vc, ve)))))
                    qy1 = min(Ho, int(math.ceil(max(max(va, vb), max(vc, ve)))))
                    if qy0 >= qy1:
                        continue
                    if sec and (sat[qy1, qx1] - sat[qy0, qx1] - sat[qy1, qx0] + sat[qy0, qx0]) == 0:
                        continue  # no hole of the primary under this quad
                    if whole:
                        k1 = _keep_bit(fa, fb, fc, qb & 1)
                        k2 = _keep_bit(fb, fe, fc, qb & 2)
                        if not (k1 or k2):
                            continue
                    iza, izb, izc, ize = IZ[y, x], IZ[y, x + 1], IZ[y + 1, x], IZ[y + 1, x + 1]
                    # triangle 1 = a b c, triangle 2 = b e c, each made positive (either winding:
                    # a surface seen from behind is drawn too) by swapping its last two vertices
                    ar1 = (ub - ua) * (vc - va) - (vb - va) * (uc - ua)
                    ar2 = (ue - ub) * (vc - vb) - (ve - vb) * (uc - ub)
                    k1 = k1 and ar1 != 0.0
                    k2 = k2 and ar2 != 0.0
                    for py in range(qy0, qy1):
                        fy = float(py)
                        for px in range(qx0, qx1):
                            if sec and owner[py, px] >= 0 and owner[py, px] != f:
                                continue
                            fx = float(px)
                            if k1:
                                if ar1 > 0.0:
                                    s_, w0, w1, w2 = _weights(fx, fy, ua, va, iza, ub, vb, izb, uc, vc, izc)
                                else:
                                    s_, w0, w2, w1 = _weights(fx, fy, ua, va, iza, uc, vc, izc, ub, vb, izb)
                                if s_ > 0.0:
                                    key = 0.0 if fa == 2 else s_ * (1.0 / abs(ar1))  # 1 / z
                                    if key > izbuf[py, px]:
                                        r = 1.0 / s_
                                        izbuf[py, px] = key
                                        out_mask[py, px] = True
                                        filled += owner[py, px] < 0
                                        owner[py, px] = f
                                        w0, w1, w2 = w0 * r, w1 * r, w2 * r
                                        for c in range(3):
                                            acc[py, px, c] = (w0 * rgb[src, y, x, c] + w1 * rgb[src, y, x + 1, c]
                                                              + w2 * rgb[src, y + 1, x, c])
                                        acc[py, px, 3] = (w0 * D[y, x] + w1 * D[y, x + 1] + w2 * D[y + 1, x] if fa == 2
                                                          else abs(ar1) * r)
                            if k2:
                                if ar2 > 0.0:
                                    s_, w0, w1, w2 = _weights(fx, fy, ub, vb, izb, ue, ve, ize, uc, vc, izc)
                                else:
                                    s_, w0, w2, w1 = _weights(fx, fy, ub, vb, izb, uc, vc, izc, ue, ve, ize)
                                if s_ > 0.0:
                                    key = 0.0 if fb == 2 else s_ * (1.0 / abs(ar2))
                                    if key > izbuf[py, px]:
                                        r = 1.0 / s_
                                        izbuf[py, px] = key
                                        out_mask[py, px] = True
                                        filled += owner[py, px] < 0
                                        owner[py, px] = f
                                        w0, w1, w2 = w0 * r, w1 * r, w2 * r
                                        for c in range(3):
                                            acc[py, px, c] = (w0 * rgb[src, y, x + 1, c]
                                                              + w1 * rgb[src, y + 1, x + 1, c]
                                                              + w2 * rgb[src, y + 1, x, c])
                                        acc[py, px, 3] = (w0 * D[y, x + 1] + w1 * D[y + 1, x + 1]
                                                          + w2 * D[y + 1, x] if fb == 2 else abs(ar2) * r)
    return filled


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _used(FL, D, y, x, r1, r2):
    """Whether vertex (y, x) belongs to a kept triangle (of the up to 4 quads around it)."""
    H, W = FL.shape
    for qy in range(max(0, y - 1), min(y, H - 2) + 1):
        for qx in range(max(0, x - 1), min(x, W - 2) + 1):
            fa, fb, fc, fe = FL[qy, qx], FL[qy, qx + 1], FL[qy + 1, qx], FL[qy + 1, qx + 1]
            da, db, dc, de = D[qy, qx], D[qy, qx + 1], D[qy + 1, qx], D[qy + 1, qx + 1]
            a, b, c, e = (qy, qx) == (y, x), (qy, qx + 1) == (y, x), (qy + 1, qx) == (y, x), (qy + 1, qx + 1) == (y, x)
            if (a or b or c) and _keep(fa, fb, fc, da, db, dc, r1, r2):
                return True
            if (b or e or c) and _keep(fe, fc, fb, de, dc, db, r1, r2):
                return True
    return False


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _points(rgb, src, r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask, owner, pcov):
    """The primary frame's vertices as points on their nearest pixel where no triangle
    drew (pcov marks the points'): the bottom and right borders of the mesh (the top-left
    rule leaves them to no triangle) keep the source pose exact, and thin structures and
    isolated depths still show where their 4 neighbours have depth. Isolated vertices amid
    unknown depth are left out (noise: stipple, not surfaces), and so are secondary
    frames' points (in the holes they fill they would be stipple too)."""
    H, W = U.shape
    Ho, Wo = izbuf.shape
    for y in range(H):
        for x in range(W):
            if FL[y, x] == 0:
                continue
            px = int(math.floor(U[y, x] + 0.5))
            py = int(math.floor(V[y, x] + 0.5))
            if px < 0 or px >= Wo or py < 0 or py >= Ho or (out_mask[py, px] and not pcov[py, px]):
                continue
            if ((y > 0 and FL[y - 1, x] == 0) or (y < H - 1 and FL[y + 1, x] == 0) or (x > 0 and FL[y, x - 1] == 0)
                    or (x < W - 1 and FL[y, x + 1] == 0)) and not _used(FL, D, y, x, r1, r2):
                continue  # isolated amid unknown depth
            iz = IZ[y, x]
            is_far = FL[y, x] == 2
            key = 0.0 if is_far else iz
            if not key > izbuf[py, px]:
                continue
            izbuf[py, px] = key
            out_mask[py, px] = True
            pcov[py, px] = True
            owner[py, px] = 0
            for c in range(3):
                acc[py, px, c] = rgb[src, y, x, c]
            acc[py, px, 3] = D[y, x] if is_far else 1.0 / iz


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _mesh_item(rgb, u8, depth, far, has_far, idx, M, T, zmin, r1, r2, skirt, out_rgb, out_depth, out_mask,
               U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat, QK, slot, nq):
    """Mesh source frames idx [F] into one item's outputs [Ho, Wo(, 3)] (holes 0): the
    primary frame's triangles then its points everywhere, then each secondary frame's
    triangles only into the pixels the frames before it left empty (owner; sat, the
    summed-area table of those pixels, culls the rest). Secondary frames are
    ranked, not z-buffered against each other: their depths disagree slightly, and a
    z-buffer between them flickers pixel by pixel between two exposures (stipple)."""
    _clear(izbuf, out_mask, owner)
    _project(depth, far, has_far, idx[0], M[0], T[0], zmin, U, V, IZ, D, FL)
    _triangles(rgb, idx[0], 0, _bits_of(depth, idx[0], r1, r2, QK, slot, nq), r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask,
               owner, sat, 0, U.shape[0])
    _mesh_rest(rgb, u8, depth, far, has_far, idx, M, T, zmin, r1, r2, skirt, out_rgb, out_depth, out_mask,
               U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat, QK, slot, nq)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _clear(izbuf, out_mask, owner):
    """An empty z-buffer: nothing drawn."""
    Ho, Wo = izbuf.shape
    for py in range(Ho):
        for px in range(Wo):
            izbuf[py, px] = -1.0
            out_mask[py, px] = False
            owner[py, px] = -1


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _mesh_rest(rgb, u8, depth, far, has_far, idx, M, T, zmin, r1, r2, skirt, out_rgb, out_depth, out_mask,
               U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat, QK, slot, nq):
    """_mesh_item after the primary frame's triangles (U..FL still hold its projection):
    its points, the secondary frames, the first _SKIRT_FRAMES frames' skirts (skirt > 0), the
    outputs."""
    F = idx.shape[0]
    Ho, Wo = out_depth.shape
    cs = 255.0 if u8 else 1.0  # colours are interpolated as given, divided by cs at the end
    for py in range(Ho):
        for px in range(Wo):
            pcov[py, px] = False
    _points(rgb, idx[0], r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask, owner, pcov)
    holes = _hole_table(out_mask, sat)
    for f in range(1, F):
        if holes == 0:
            break
        _project(depth, far, has_far, idx[f], M[f], T[f], zmin, U, V, IZ, D, FL)
        filled = _triangles(rgb, idx[f], f, QK[0], r1, r2, U, V, IZ, D, FL, izbuf,  # QK[0] unread: f > 0
                            acc, out_mask, owner, sat, 0, U.shape[0])
        holes -= filled
        if filled > 0 and f + 1 < F:
            _hole_table(out_mask, sat)
    if skirt > 0 and holes > 0:
        E = np.empty((5, depth.shape[1] + 2 * skirt, depth.shape[2] + 2 * skirt))
        for f in range(min(F, _SKIRT_FRAMES)):
            holes -= _skirt(rgb, depth, far, has_far, idx[f], f, M[f], T[f], zmin, r1, r2, skirt, izbuf, acc, out_mask,
                            owner, sat, E)
            if holes == 0:
                break
    for py in range(Ho):
        for px in range(Wo):
            m = out_mask[py, px]
            for c in range(3):
                out_rgb[py, px, c] = np.float32(acc[py, px, c] / cs) if m else np.float32(0.0)
            out_depth[py, px] = np.float32(acc[py, px, 3]) if m else np.float32(0.0)


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _skirt_vertex(depth, far, has_far, src, M, T, zmin, i, j):
    """Vertex (i, j) of the source frame extended past its border: at pixel coordinates
    (j, i), with the depth and far flag of the nearest pixel of the frame; the same
    arithmetic as _project, so the border vertices meet the mesh exactly (written out in
    both: _project calling a shared inline helper ran 1.12-1.14x per 64 px lane against
    1.02-1.08x for the unchanged code in the same side-by-side harness, with bit-identical views).
    Returns (u, v, 1 / z', depth, flag, clamped row, clamped column)."""
    H, W = depth.shape[1], depth.shape[2]
    ci, cj = min(max(i, 0), H - 1), min(max(j, 0), W - 1)
    d = float(depth[src, ci, cj])
    fx, fy = float(j), float(i)
    rx = M[0, 0] * fx + (M[0, 1] * fy + M[0, 2])
    ry = M[1, 0] * fx + (M[1, 1] * fy + M[1, 2])
    rz = M[2, 0] * fx + (M[2, 1] * fy + M[2, 2])
    is_far = has_far and far[src, ci, cj]
    s = 0.0 if is_far else 1.0
    dd = 1.0 if is_far else d
    pz = rz * dd + T[2] * s
    ok = d > 0.0 and d < math.inf and pz > (0.0 if is_far else zmin)
    iz = 1.0 / pz if ok else 0.0
    u = (rx * dd + T[0] * s) * iz
    v = (ry * dd + T[1] * s) * iz
    r = math.floor(u + 0.5)
    u = r if abs(u - r) < _SNAP else u
    r = math.floor(v + 0.5)
    v = r if abs(v - r) < _SNAP else v
    return u, v, iz, d, ((2 if is_far else 1) if ok else 0), ci, cj


@njit(inline="always", fastmath=False, error_model="numpy", nogil=True)
def _skirt_triangle(rgb, src, me, izbuf, acc, out_mask, owner, ua, va, iza, da, ia, ja, ub, vb, izb, db, ib, jb,
                    uc, vc, izc, dc, ic, jc, is_far):
    """One skirt triangle into the pixels no frame covered (z-buffered among this skirt's):
    how many it drew first."""
    Ho, Wo = izbuf.shape
    ar = (ub - ua) * (vc - va) - (vb - va) * (uc - ua)
    if ar == 0.0:
        return 0
    if ar < 0.0:  # make it positive: swap b and c
        ub, vb, izb, db, ib, jb, uc, vc, izc, dc, ic, jc = uc, vc, izc, dc, ic, jc, ub, vb, izb, db, ib, jb
    qx0 = max(0, int(math.ceil(min(min(ua, ub), uc))))
    qx1 = min(Wo, int(math.ceil(max(max(ua, ub), uc))))
    qy0 = max(0, int(math.ceil(min(min(va, vb), vc))))
    qy1 = min(Ho, int(math.ceil(max(max(va, vb), vc))))
    inv_ar = 1.0 / abs(ar)
    new = 0
    for py in range(qy0, qy1):
        fy = float(py)
        for px in range(qx0, qx1):
            if out_mask[py, px] and owner[py, px] != me:
                continue
            s_, w0, w1, w2 = _weights(float(px), fy, ua, va, iza, ub, vb, izb, uc, vc, izc)
            if s_ > 0.0:
                key = 0.0 if is_far else s_ * inv_ar
                if key > izbuf[py, px]:
                    r = 1.0 / s_
                    izbuf[py, px] = key
                    new += owner[py, px] != me
                    out_mask[py, px] = True
                    owner[py, px] = me
                    w0, w1, w2 = w0 * r, w1 * r, w2 * r
                    for c in range(3):
                        acc[py, px, c] = w0 * rgb[src, ia, ja, c] + w1 * rgb[src, ib, jb, c] + w2 * rgb[src, ic, jc, c]
                    acc[py, px, 3] = w0 * da + w1 * db + w2 * dc if is_far else abs(ar) * r
    return new


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _skirt(rgb, depth, far, has_far, src, f, M, T, zmin, r1, r2, P, izbuf, acc, out_mask, owner, sat, E):
    """Frame f's skirt: its mesh extended P pixels past the frame's border, each new vertex
    with the colour, depth and far flag of the nearest pixel of the frame (the surface
    assumed to go on as it leaves the frame), drawn after all frames' own triangles and
    only into the pixels none of them covered, ranked like the frames (a skirt draws only
    where no earlier one did); marked owner _SKIRT - f, so they seed the hole fill but are
    not reported as covered (_unskirt). E [5, H+2P, W+2P]: the projected ring (u, v, 1/z,
    depth, flag); quads in row order over the extended grid, the triangles of each as the
    mesh's (a b c, then b e c); quads over no hole (sat, a superset of them) are skipped.
    Returns how many pixels it drew."""
    H, W = depth.shape[1], depth.shape[2]
    Ho, Wo = izbuf.shape
    me = _SKIRT - f
    for i in range(-P, H + P):  # the ring of vertices: P outside the frame and its border
        inner = 0 < i and i < H - 1
        for k in range(W + 2 * P - (max(0, W - 2) if inner else 0)):
            j = k - P if not inner or k <= P else k - P + W - 2  # inner rows: the two ends only
            u, v, iz, d, fl, ci, cj = _skirt_vertex(depth, far, has_far, src, M, T, zmin, i, j)
            E[0, i + P, j + P] = u
            E[1, i + P, j + P] = v
            E[2, i + P, j + P] = iz
            E[3, i + P, j + P] = d
            E[4, i + P, j + P] = fl
    drawn = 0
    for qy in range(-P, H - 1 + P):
        inner_row = 0 <= qy and qy < H - 1
        for qx in range(-P, W - 1 + P):
            if inner_row and 0 <= qx and qx < W - 1:
                continue  # the mesh's own quad
            y, x = qy + P, qx + P
            fa, fb, fc, fe = int(E[4, y, x]), int(E[4, y, x + 1]), int(E[4, y + 1, x]), int(E[4, y + 1, x + 1])
            da, db, dc, de = E[3, y, x], E[3, y, x + 1], E[3, y + 1, x], E[3, y + 1, x + 1]
            k1 = _keep(fa, fb, fc, da, db, dc, r1, r2)
            k2 = _keep(fe, fc, fb, de, dc, db, r1, r2)
            if not (k1 or k2):
                continue
            ua, ub, uc, ue = E[0, y, x], E[0, y, x + 1], E[0, y + 1, x], E[0, y + 1, x + 1]
            va, vb, vc, ve = E[1, y, x], E[1, y, x + 1], E[1, y + 1, x], E[1, y + 1, x + 1]
            qx0 = max(0, int(math.ceil(min(min(ua, ub), min(uc, ue)))))
            qx1 = min(Wo, int(math.ceil(max(max(ua, ub), max(uc, ue)))))
            qy0 = max(0, int(math.ceil(min(min(va, vb), min(vc, ve)))))
            qy1 = min(Ho, int(math.ceil(max(max(va, vb), max(vc, ve)))))
            if qx0 >= qx1 or qy0 >= qy1 or (sat[qy1, qx1] - sat[qy0, qx1] - sat[qy1, qx0] + sat[qy0, qx0]) == 0:
                continue
            iza, izb, izc, ize = E[2, y, x], E[2, y, x + 1], E[2, y + 1, x], E[2, y + 1, x + 1]
            ia, ja = min(max(qy, 0), H - 1), min(max(qx, 0), W - 1)
            ie, je = min(max(qy + 1, 0), H - 1), min(max(qx + 1, 0), W - 1)
            if k1:
                drawn += _skirt_triangle(rgb, src, me, izbuf, acc, out_mask, owner, ua, va, iza, da, ia, ja, ub, vb,
                                         izb, db, ia, je, uc, vc, izc, dc, ie, ja, fa == 2)
            if k2:
                drawn += _skirt_triangle(rgb, src, me, izbuf, acc, out_mask, owner, ub, vb, izb, db, ia, je, ue, ve,
                                         ize, de, ie, je, uc, vc, izc, dc, ie, ja, fb == 2)
    return drawn


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _unskirt(owner, out_mask, out_render):
    """After the finish: the skirts' pixels (owner <= _SKIRT) keep their colour in the view
    but are holes of the render and the covered mask (they are a guess, not the reference)."""
    Ho, Wo = owner.shape
    for py in range(Ho):
        for px in range(Wo):
            if owner[py, px] <= _SKIRT:
                out_mask[py, px] = False
                for c in range(3):
                    out_render[py, px, c] = 0


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _hole_table(out_mask, sat):
    """sat: the summed-area table of the pixels nothing has drawn yet, which the next
    frame's raster culls its blocks and quads against (it draws only there); rebuilt after
    each secondary frame that drew, so a later one skips what an earlier one filled (the
    same views: 0.6x the secondary frames' time at 64 px). Returns the number of holes."""
    Ho, Wo = out_mask.shape
    holes = 0
    for py in range(Ho):
        run = 0
        for px in range(Wo):
            if not out_mask[py, px]:
                run += 1
            sat[py + 1, px + 1] = sat[py, px + 1] + run
        holes += run
    return holes


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _split_begin(depth, far, has_far, K, inv_K, c2w, idx, tgt, zmin, M, T, U, V, IZ, D, FL):
    """A split lane's maps and its primary frame's projection (shared by the row chunks)."""
    _item_maps(K, inv_K, c2w, idx, tgt, M, T)
    _project(depth, far, has_far, idx[0], M[0], T[0], zmin, U, V, IZ, D, FL)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _split_rows(rgb, src, QB, r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask, owner, sat, yb0, yb1):
    """One chunk of quad rows of a split lane's primary frame into its own z-buffer."""
    _clear(izbuf, out_mask, owner)
    _triangles(rgb, src, 0, QB, r1, r2, U, V, IZ, D, FL, izbuf, acc, out_mask, owner, sat, yb0, yb1)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _split_merge(izbuf, acc, out_mask, owner, izbuf2, acc2, mask2):
    """A later chunk's z-buffer into the earlier ones': it wins a pixel only where strictly
    nearer, which is what drawing its triangles after theirs does (ties: the first drawn)."""
    Ho, Wo = izbuf.shape
    for py in range(Ho):
        for px in range(Wo):
            if mask2[py, px] and izbuf2[py, px] > izbuf[py, px]:
                izbuf[py, px] = izbuf2[py, px]
                out_mask[py, px] = True
                owner[py, px] = 0
                for c in range(4):
                    acc[py, px, c] = acc2[py, px, c]


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _split_end(rgb, u8, depth, far, has_far, idx, M, T, zmin, r1, r2, skirt, fill_rgb, out_render, out_mask,
               out_rgb, out_depth, U, V, IZ, D, FL, izbuf, acc, s_mask, owner, pcov, sat, QK, slot, nq):
    """A split lane after its merged primary triangles (in izbuf, acc, s_mask, owner):
    _mesh_rest, then the finish."""
    Ho, Wo = out_depth.shape
    s_rgb = np.empty((Ho, Wo, 3), np.float32)
    s_depth = np.empty((Ho, Wo), np.float32)
    _mesh_rest(rgb, u8, depth, far, has_far, idx, M, T, zmin, r1, r2, skirt, s_rgb, s_depth, s_mask,
               U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat, QK, slot, nq)
    _finish_item(s_rgb, s_depth, s_mask, np.float32(np.inf), fill_rgb, out_render, out_mask, out_rgb, out_depth,
                 np.empty(_lane_scratch(Ho, Wo), np.float32))
    if skirt > 0:
        _unskirt(owner, out_mask, out_render)


@njit(cache=True, nogil=True)
def _workspace(F, H, W, Ho, Wo):
    """A lane's workspaces, made once per call and reused lane after lane: the maps M, T,
    the projected vertices U, V, IZ, D, FL [H, W] and the pixel buffers izbuf, acc, owner,
    pcov, sat [Ho, Wo(, 4)]. Each array starts k x 1088 bytes into its own allocation:
    arrays of a power-of-two size otherwise start at the same cache set, and the raster,
    reading all of them at one pixel, thrashed the L1 (a 128 px lane ran 2.5x slower per
    pixel than a 64 px one)."""
    n, m = H * W, Ho * Wo
    f8, f4, b1 = 136, 272, 1088  # 1088 bytes in float64, float32 and byte elements
    U = np.empty(n + f8)[f8:].reshape(H, W)
    V = np.empty(n + 2 * f8)[2 * f8:].reshape(H, W)
    IZ = np.empty(n + 3 * f8)[3 * f8:].reshape(H, W)
    D = np.empty(n + 4 * f4, np.float32)[4 * f4:].reshape(H, W)  # the source depth (exact in float32)
    FL = np.empty(n + 5 * b1, np.uint8)[5 * b1:].reshape(H, W)
    izbuf = np.empty(m + 6 * f8)[6 * f8:].reshape(Ho, Wo)
    acc = np.empty(4 * m + 7 * f8)[7 * f8:].reshape(Ho, Wo, 4)
    owner = np.empty(m + 8 * f8, np.int64)[8 * f8:].reshape(Ho, Wo)  # the frame that drew a pixel, -1 none
    pcov = np.empty(m + 9 * b1, np.bool_)[9 * b1:].reshape(Ho, Wo)
    sat = np.zeros((Ho + 1, Wo + 1), np.int64)  # row and column 0 stay 0
    return np.empty((F, 3, 3)), np.empty((F, 3)), U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _mesh_serial(rgb, u8, depth, far, has_far, K, inv_K, c2w, idx, tgt, zmin, r1, r2, out_rgb, out_depth, out_mask):
    """Lane after lane: its maps, its mesh raster; the workspaces made once per call."""
    F, H, W = idx.shape[1], depth.shape[1], depth.shape[2]
    Ho, Wo = out_depth.shape[1], out_depth.shape[2]
    M, T, U, V, IZ, D, FL, zbuf, acc, owner, pcov, sat = _workspace(F, H, W, Ho, Wo)
    QK, slot, nq = _bits_cache(depth.shape[0], idx.shape[0], F, H, W)
    for b in range(idx.shape[0]):
        k = 0 if K.shape[0] == 1 else b
        _item_maps(K[k], inv_K[k], c2w, idx[b], tgt[b], M, T)
        _mesh_item(rgb, u8, depth, far, has_far, idx[b], M, T, zmin, r1, r2, 0, out_rgb[b], out_depth[b],
                   out_mask[b], U, V, IZ, D, FL, zbuf, acc, owner, pcov, sat, QK, slot, nq)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _mesh_view_serial(rgb, u8, depth, far, has_far, K, inv_K, c2w, idx, tgt, zmin, r1, r2, skirt, fill_rgb,
                      out_render, out_mask, out_rgb, out_depth):
    """Lane after lane: its maps, its mesh raster, its finish (view_numba: quantised render,
    push-pull fill of the holes; a mesh has no cracks, so no crack test)."""
    F, H, W = idx.shape[1], depth.shape[1], depth.shape[2]
    Ho, Wo = out_depth.shape[1], out_depth.shape[2]
    M, T, U, V, IZ, D, FL, zbuf, acc, owner, pcov, sat = _workspace(F, H, W, Ho, Wo)
    m = Ho * Wo  # the mesh's own outputs, staggered like the workspace
    s_rgb = np.empty(3 * m + 10 * 272, np.float32)[10 * 272:].reshape(Ho, Wo, 3)
    s_depth = np.empty(m + 11 * 272, np.float32)[11 * 272:].reshape(Ho, Wo)
    s_mask = np.empty(m + 12 * 1088, np.bool_)[12 * 1088:].reshape(Ho, Wo)
    scratch = np.empty(_lane_scratch(Ho, Wo), np.float32)
    no_cracks = np.float32(np.inf)
    QK, slot, nq = _bits_cache(depth.shape[0], idx.shape[0], F, H, W)
    for b in range(idx.shape[0]):
        k = 0 if K.shape[0] == 1 else b
        _item_maps(K[k], inv_K[k], c2w, idx[b], tgt[b], M, T)
        _mesh_item(rgb, u8, depth, far, has_far, idx[b], M, T, zmin, r1, r2, skirt, s_rgb, s_depth, s_mask,
                   U, V, IZ, D, FL, zbuf, acc, owner, pcov, sat, QK, slot, nq)
        _finish_item(s_rgb, s_depth, s_mask, no_cracks, fill_rgb, out_render[b], out_mask[b], out_rgb[b],
                     out_depth[b], scratch)
        if skirt > 0:
            _unskirt(owner, out_mask[b], out_render[b])


def mesh_thresholds(K: np.ndarray, slope: float, min_jump: float) -> tuple[float, float]:
    """Depth ratios an axis edge and the diagonal may span for intrinsics K: a surface may
    be as grazing as `slope` (tan of its angle to the view ray); log ratio at least min_jump."""
    f = float(min(K[..., 0, 0].min(), K[..., 1, 1].min()))
    return math.exp(max(min_jump, slope / f)), math.exp(max(min_jump, slope * math.sqrt(2.0) / f))


def _args(frames, depth, far, K, c2w, idx, tgt_c2w, depth_unit, slope, min_jump, near) -> tuple:
    """The kernels' leading arguments, contiguous and typed."""
    u8 = frames.dtype == np.uint8
    frames = np.ascontiguousarray(frames) if u8 else np.ascontiguousarray(frames, dtype=np.float32)
    K = np.ascontiguousarray(K, dtype=np.float64).reshape(-1, 3, 3)
    r1, r2 = mesh_thresholds(K, slope, min_jump)
    has_far = far is not None
    far_a = np.ascontiguousarray(far, dtype=np.bool_) if has_far else np.zeros((1, 1, 1), np.bool_)
    return (frames, u8, np.ascontiguousarray(depth, dtype=np.float32), far_a, has_far, K, inverse_K(K),
            np.ascontiguousarray(c2w, dtype=np.float64), idx, np.ascontiguousarray(tgt_c2w, dtype=np.float64),
            float(near) * float(depth_unit), r1, r2)


def _lane_args(K: np.ndarray, outputs: int, first_output: int) -> tuple[int, ...]:
    """Positions of the per-lane arguments for run_lanes: idx, tgt, (K, inv_K if per lane), outputs."""
    per_k = () if np.ndim(K) == 2 or np.shape(K)[0] == 1 else (5, 6)
    return per_k + (8, 9) + tuple(range(first_output, first_output + outputs))


def mesh(frames: np.ndarray, depth: np.ndarray, far: np.ndarray | None, K: np.ndarray, c2w: np.ndarray,
         idx: np.ndarray, tgt_c2w: np.ndarray, depth_unit: float, slope: float, min_jump: float, near: float,
         out_size: tuple[int, int], min_lanes_per_thread: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames idx [B,F] of a clip (frames [N,H,W,3] uint8 or float in [0, 1], depth [N,H,W],
    far [N,H,W] bool or None, poses c2w [N,4,4], K [3,3] or [B,3,3]) meshed into the
    cameras tgt_c2w [B,4,4]: (rgb float32 [B,Ho,Wo,3] in [0, 1], depth, mask); holes are 0.
    Points nearer than near * depth_unit to a target camera are clipped. Inputs must have
    been checked (mesh.mesh_warp_numba and view.warp_view do). min_lanes_per_thread: as
    run_lanes' (small lanes, whose share would not pay for a thread hand-off, ask for more)."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    B, (Ho, Wo) = idx.shape[0], out_size
    out = (np.empty((B, Ho, Wo, 3), np.float32), np.empty((B, Ho, Wo), np.float32), np.empty((B, Ho, Wo), np.bool_))
    args = _args(frames, depth, far, K, c2w, idx, tgt_c2w, depth_unit, slope, min_jump, near)
    run_lanes(_mesh_serial, (*args, *out), _lane_args(K, 3, 13), B, min_lanes_per_thread)
    return out


def mesh_view(frames: np.ndarray, depth: np.ndarray, far: np.ndarray | None, K: np.ndarray, c2w: np.ndarray,
              idx: np.ndarray, tgt_c2w: np.ndarray, depth_unit: float, slope: float, min_jump: float, near: float,
              fill_rgb: bool = True, skirt: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mesh at the frames' size, finished into views in the same compiled call: (render
    uint8, covered, rgb uint8, depth), as view_numba.warp_view_numba. skirt: pixels the
    first _SKIRT_FRAMES frames' meshes are extended past their border to seed the hole
    fill (_skirt; 0: none)."""
    if int(skirt) != skirt or skirt < 0:
        raise ValueError(f"skirt must be a number of pixels >= 0, got {skirt!r}")
    skirt = int(skirt)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    B, H, W = idx.shape[0], frames.shape[1], frames.shape[2]
    out = _outputs(B, H, W)
    args = _args(frames, depth, far, K, c2w, idx, tgt_c2w, depth_unit, slope, min_jump, near)
    chunks = min(num_threads(), (H - 1 + _BLOCK - 1) // _BLOCK)
    if B < chunks and H * W >= SPLIT_PIXELS:  # too few lanes to share out: split each lane's primary by rows
        for b in range(B):
            _mesh_view_split(args, b, skirt, bool(fill_rgb), out, chunks)
        return out
    run_lanes(_mesh_view_serial, (*args, skirt, bool(fill_rgb), *out), _lane_args(K, 4, 15), B)
    return out


def _mesh_view_split(args: tuple, b: int, skirt: int, fill_rgb: bool, out: tuple, chunks: int) -> None:
    """Lane b of mesh_view with its primary frame's triangles (most of a lane's time)
    drawn in `chunks` chunks of block rows on threads, each into its own z-buffer, merged
    in row order (_split_merge): the same result as one thread, bit for bit."""
    frames, u8, depth, far, has_far, K, inv_K, c2w, idx, tgt, zmin, r1, r2 = args
    k = 0 if K.shape[0] == 1 else b
    F, H, W = idx.shape[1], depth.shape[1], depth.shape[2]
    M, T, U, V, IZ, D, FL, izbuf, acc, owner, pcov, sat = _workspace(F, H, W, H, W)
    _split_begin(depth, far, has_far, K[k], inv_K[k], c2w, idx[b], tgt[b], zmin, M, T, U, V, IZ, D, FL)
    QK, slot, nq = _bits_cache(depth.shape[0], 1, F, H, W)
    QB = _bits_of(depth, idx[b, 0], r1, r2, QK, slot, nq)
    blocks = (H - 1 + _BLOCK - 1) // _BLOCK
    rows = [blocks * i // chunks * _BLOCK for i in range(chunks)] + [H - 1]
    bufs = [(izbuf, acc, np.empty((H, W), np.bool_), owner)]
    bufs += [(np.empty((H, W)), np.empty((H, W, 4)), np.empty((H, W), np.bool_), np.empty((H, W), np.int64))
             for _ in range(chunks - 1)]
    run_parts(_split_rows, [(frames, idx[b, 0], QB, r1, r2, U, V, IZ, D, FL, *bufs[i], sat, rows[i], rows[i + 1])
                            for i in range(chunks)])
    for i in range(1, chunks):
        _split_merge(izbuf, acc, bufs[0][2], owner, bufs[i][0], bufs[i][1], bufs[i][2])
    render, mask, rgb, dep = out
    _split_end(frames, u8, depth, far, has_far, idx[b], M, T, zmin, r1, r2, skirt, fill_rgb, render[b], mask[b],
               rgb[b], dep[b], U, V, IZ, D, FL, izbuf, acc, bufs[0][2], owner, pcov, sat, QK, slot, nq)


def mesh_maps(K: np.ndarray, src_c2w: np.ndarray, tgt_c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 maps M [F,3,3], T [F,3] of source frames src_c2w [F,4,4] into tgt [4,4]
    (for tests and the torch reference's cross-check)."""
    F = len(src_c2w)
    M, T = np.empty((F, 3, 3)), np.empty((F, 3))
    K = np.asarray(K, dtype=np.float64)
    _item_maps(K, np.linalg.inv(K), np.ascontiguousarray(src_c2w, dtype=np.float64), np.arange(F),
               np.ascontiguousarray(tgt_c2w, dtype=np.float64), M, T)
    return M, T


def warmup() -> None:
    """Compile (or load from the disk cache) the kernel for uint8 frames."""
    f = np.zeros((1, 4, 4, 3), np.uint8)
    d = np.ones((1, 4, 4), np.float32)
    args = (f, d, None, np.eye(3), np.eye(4)[None], np.zeros((1, 1), np.int64), np.eye(4)[None], 1.0, 8.0, 0.05, 1e-3)
    mesh(*args, (4, 4))
    mesh_view(*args, skirt=1)
