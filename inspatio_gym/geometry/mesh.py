"""The surface warp: each reference frame rendered as a triangle mesh over its depth map.

The point splat leaves gaps wherever the target camera magnifies a surface (stipple, dark
specks on real, noisy depth); a mesh stays closed. A vertex sits at every pixel centre,
two triangles per pixel quad; a triangle spanning a depth discontinuity (an edge whose
depth ratio exceeds what a surface as grazing as `slope` could give) is dropped, so a box
in front of a wall leaves a hole, not a rubber sheet. Rasterised with a z-buffer and
perspective-correct colour and depth; vertices no triangle draws become points (thin
structures, the mesh border), so the source pose reproduces the reference exactly. Far
pixels (sky) are at infinity: rotation only, behind everything.

Two implementations, one semantics (see mesh_numba's docstring for the rules):
mesh_warp_torch (the reference: batched tensor ops, any device, used on GPUs) and
mesh_numba's compiled kernel (CPU); mesh_warp picks one by dispatch.use_numba.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import mesh_numba
from .camera import invert_pose
from .dispatch import use_numba
from .warp import WarpResult, _as_batched

__all__ = ["MESH_DEFAULTS", "SKIRT", "mesh_skirt_torch", "mesh_warp", "mesh_warp_numba", "mesh_warp_torch"]

#: slope: tan of the most grazing surface angle kept (8: about 83 degrees); min_jump: the
#: smallest log depth ratio ever called a discontinuity; near: the clipping distance
#: (x depth_unit, the scene scale): points nearer to the target camera are dropped.
MESH_DEFAULTS = {"slope": 8.0, "min_jump": 0.05, "near": 1e-3}
#: pixels a view's frames are extended past their border (edge colour and depth) to seed
#: the hole fill: the skirt (mesh_numba._skirt). Its pixels are never reported as covered.
#: Full frame on held-out worlds at 64 / 128 / 256 px (benchmarks/surface_quality.py, before /
#: after): +0.23 / +0.20 / +0.10 dB; in the holes of real 7-Scenes novel views +0.3 to +1.6
#: dB; 2 px was worse on the real clip at 64 px.
SKIRT = 1
_BLOCK = mesh_numba._BLOCK


def _checked(rgb, depth, src_c2w, tgt_c2w, far):
    rgb, depth, src_c2w = _as_batched(rgb, 4), _as_batched(depth, 3), _as_batched(src_c2w, 3)
    B, F, H, W, C = rgb.shape
    if C != 3 or tuple(depth.shape) != (B, F, H, W):
        raise ValueError(f"rgb [B,F,H,W,3] and depth [B,F,H,W] must match, got {tuple(rgb.shape)} and "
                         f"{tuple(depth.shape)}")
    if tuple(src_c2w.shape) != (B, F, 4, 4) or tuple(tgt_c2w.shape) != (B, 4, 4):
        raise ValueError(f"poses must be src [B,F,4,4]={B, F, 4, 4} and tgt [B,4,4]; got {tuple(src_c2w.shape)} "
                         f"and {tuple(tgt_c2w.shape)}")
    if far is not None:
        far = _as_batched(far, 3)
        if tuple(far.shape) != (B, F, H, W):
            raise ValueError(f"far must have depth's shape {(B, F, H, W)}, got {tuple(far.shape)}")
    return rgb, depth, src_c2w, far


def mesh_warp(rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, src_c2w: torch.Tensor,
              tgt_c2w: torch.Tensor, far: torch.Tensor | None = None, depth_unit: float = 1.0,
              slope: float = 8.0, min_jump: float = 0.05, near: float = 1e-3) -> WarpResult:
    """mesh_warp_numba where dispatch.use_numba says so (CPU), else mesh_warp_torch."""
    impl = mesh_warp_numba if use_numba(rgb, depth, K, src_c2w, tgt_c2w) else mesh_warp_torch
    return impl(rgb, depth, K, src_c2w, tgt_c2w, far, depth_unit, slope, min_jump, near)


def mesh_warp_numba(rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, src_c2w: torch.Tensor,
                    tgt_c2w: torch.Tensor, far: torch.Tensor | None = None, depth_unit: float = 1.0,
                    slope: float = 8.0, min_jump: float = 0.05, near: float = 1e-3) -> WarpResult:
    """mesh_warp_torch on CPU tensors by mesh_numba's kernel (same arguments and results)."""
    rgb, depth, src_c2w, far = _checked(rgb, depth, src_c2w, tgt_c2w, far)
    B, F, H, W, _ = rgb.shape
    frames = rgb.reshape(B * F, H, W, 3).detach().numpy()
    idx = np.arange(B * F, dtype=np.int64).reshape(B, F)
    K = K.detach().to(torch.float64).numpy()
    out = mesh_numba.mesh(frames, depth.reshape(B * F, H, W).detach().numpy(),
                          None if far is None else far.reshape(B * F, H, W).numpy(), K,
                          src_c2w.reshape(B * F, 4, 4).detach().to(torch.float64).numpy(), idx,
                          tgt_c2w.detach().to(torch.float64).numpy(), depth_unit, slope, min_jump, near, (H, W))
    rgb_o, depth_o, mask = map(torch.from_numpy, out)
    return WarpResult(rgb=rgb_o, depth=depth_o, mask=mask, weight=mask.to(torch.float32))


def _draw(cand_pix: torch.Tensor, key: torch.Tensor, order: torch.Tensor, n_pix: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For candidates (pixel, key, order), the winner of each pixel: the largest key (1 / z,
    nearest), ties to the smallest order (first drawn). Returns (winner index per pixel
    or -1, drawn mask)."""
    best = torch.full((n_pix,), -math.inf, dtype=key.dtype, device=key.device)
    best.scatter_reduce_(0, cand_pix, key, "amax")
    top = key == best[cand_pix]
    big = torch.iinfo(torch.int64).max
    first = torch.full((n_pix,), big, dtype=torch.int64, device=key.device)
    first.scatter_reduce_(0, cand_pix[top], order[top], "amin")
    drawn = first < big
    win = torch.full((n_pix,), -1, dtype=torch.int64, device=key.device)
    sel = top & (order == first[cand_pix])  # orders are unique: one winner per drawn pixel
    win[cand_pix[sel]] = torch.nonzero(sel).squeeze(1)
    return win, drawn


def _project_torch(M: torch.Tensor, T: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, d: torch.Tensor,
                   isfar: torch.Tensor, zmin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Vertices at pixel coordinates (cols, rows) with depth d [B,F,h,w] through the maps M
    [B,F,3,3], T [B,F,3] -> (uv [B,F,h,w,2] snapped, 1 / z', flag 0 invalid, 1 finite, 2 far)."""
    ys, xs = torch.meshgrid(rows, cols, indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)], -1)  # [h,w,3]
    ray = torch.einsum("bfij,hwj->bfhwi", M, pix)
    dd = torch.where(isfar, torch.ones_like(d), d)
    p = ray * dd.unsqueeze(-1) + torch.where(isfar.unsqueeze(-1), torch.zeros_like(ray), T[:, :, None, None, :])
    pz = p[..., 2]
    ok = (d > 0) & torch.isfinite(d) & torch.where(isfar, pz > 0, pz > zmin)
    iz = torch.where(ok, 1.0 / torch.where(ok, pz, torch.ones_like(pz)), torch.zeros_like(pz))
    uv = p[..., :2] * iz.unsqueeze(-1)
    r = torch.floor(uv + 0.5)
    uv = torch.where((uv - r).abs() < mesh_numba._SNAP, r, uv)
    return uv, iz, torch.where(ok, torch.where(isfar, 2, 1), 0).to(torch.int64)


def _keep_torch(tri: torch.Tensor, FL: torch.Tensor, D: torch.Tensor, r1: float, r2: float) -> torch.Tensor:
    """mesh_numba._keep for every triangle tri [n,3] of every frame: [B,F,n] bool. tri
    alternates a b c and b e c quad by quad; the second is tested as e c b, so that in
    both the last two vertices span the quad's diagonal (r2) and the others its sides (r1)."""
    tri = tri.clone()
    tri[1::2] = tri[1::2][:, [1, 2, 0]]
    fa, fb, fc = FL[..., tri[:, 0]], FL[..., tri[:, 1]], FL[..., tri[:, 2]]
    da, db, dc = D[..., tri[:, 0]], D[..., tri[:, 1]], D[..., tri[:, 2]]

    def ratio_ok(x, y, lim):
        return torch.maximum(x, y) <= lim * torch.minimum(x, y)

    keep = (fa != 0) & (fa == fb) & (fa == fc)
    return keep & ((fa == 2) | (ratio_ok(da, db, r1) & ratio_ok(da, dc, r1) & ratio_ok(db, dc, r2)))


def _triangles_torch(g: dict, frames: list[int], need: torch.Tensor | None, B: int, H: int,
                     W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidates of the kept triangles of these frames of a vertex grid g (tri [n,3] vertex
    indices, tri_order [n], keep [B,F,n], U V IZ D FL [B,F,n_vertices], C [B,F,n_vertices,3])
    into the target pixels [B*H*W], where need (if given) -> (values [n_pix, 4], drawn)."""
    tri, tri_order, keep = g["tri"], g["tri_order"], g["keep"]
    U, V, IZ, D, FL, C = g["U"], g["V"], g["IZ"], g["D"], g["FL"], g["C"]
    dev, f64 = U.device, torch.float64
    n_tri, n_pix = tri.shape[0], B * H * W
    bi, fi, ti = torch.nonzero(keep[:, frames], as_tuple=True)
    fi = torch.as_tensor(frames, device=dev)[fi]
    va, vb, vc = tri[ti, 0], tri[ti, 1], tri[ti, 2]
    ua, ub, uc = U[bi, fi, va], U[bi, fi, vb], U[bi, fi, vc]
    wa, wb, wc = V[bi, fi, va], V[bi, fi, vb], V[bi, fi, vc]
    area = (ub - ua) * (wc - wa) - (wb - wa) * (uc - ua)
    flip = area < 0  # either winding: make it positive by swapping b and c
    ub, uc = torch.where(flip, uc, ub), torch.where(flip, ub, uc)
    wb, wc = torch.where(flip, wc, wb), torch.where(flip, wb, wc)
    vb, vc = torch.where(flip, vc, vb), torch.where(flip, vb, vc)
    area = area.abs()
    x0 = torch.ceil(torch.minimum(torch.minimum(ua, ub), uc)).clamp(0, W).to(torch.int64)
    x1 = torch.ceil(torch.maximum(torch.maximum(ua, ub), uc)).clamp(0, W).to(torch.int64)
    y0 = torch.ceil(torch.minimum(torch.minimum(wa, wb), wc)).clamp(0, H).to(torch.int64)
    y1 = torch.ceil(torch.maximum(torch.maximum(wa, wb), wc)).clamp(0, H).to(torch.int64)
    nx, ny = (x1 - x0).clamp_min(0), (y1 - y0).clamp_min(0)
    cnt = torch.where(area > 0, nx * ny, torch.zeros_like(nx))
    k = torch.repeat_interleave(torch.arange(len(cnt), device=dev), cnt)
    start = torch.cumsum(cnt, 0) - cnt
    j = torch.arange(len(k), device=dev) - start[k]
    px, py = x0[k] + j % nx[k], y0[k] + j // nx[k]
    fx, fy = px.to(f64), py.to(f64)
    ua_, ub_, uc_, wa_, wb_, wc_ = ua[k], ub[k], uc[k], wa[k], wb[k], wc[k]
    ea = (ub_ - fx) * (wc_ - fy) - (wb_ - fy) * (uc_ - fx)
    eb = (uc_ - fx) * (wa_ - fy) - (wc_ - fy) * (ua_ - fx)
    ec = (ua_ - fx) * (wb_ - fy) - (wa_ - fy) * (ub_ - fx)

    def owns(e, dx, dy):
        return (e > 0) | ((e == 0) & ((dy < 0) | ((dy == 0) & (dx > 0))))

    inside = owns(ea, uc_ - ub_, wc_ - wb_) & owns(eb, ua_ - uc_, wa_ - wc_) & owns(ec, ub_ - ua_, wb_ - wa_)
    pix_i = (bi[k] * H + py) * W + px
    if need is not None:
        inside &= need[pix_i]
    b2, f2 = bi[k], fi[k]
    va2, vb2, vc2 = va[k], vb[k], vc[k]
    pa, pb, pc = ea * IZ[b2, f2, va2], eb * IZ[b2, f2, vb2], ec * IZ[b2, f2, vc2]
    s = pa + pb + pc
    inside &= s > 0
    is_far = FL[b2, f2, va2] == 2
    key = torch.where(is_far, torch.zeros_like(s), s * (1.0 / area)[k])
    sel = torch.nonzero(inside).squeeze(1)
    order = (f2 * n_tri + tri_order[ti[k]])  # frame by frame, then the kernel's order
    if len(sel) == 0:  # nothing drawn (a skirt over no hole)
        return torch.zeros(n_pix, 4, dtype=f64, device=dev), torch.zeros(n_pix, dtype=torch.bool, device=dev)
    win, drawn = _draw(pix_i[sel], key[sel], order[sel], n_pix)
    w = sel[win.clamp_min(0)]
    rs = 1.0 / s[w]
    wa3 = (pa[w] * rs)[:, None]
    wb3 = (pb[w] * rs)[:, None]
    wc3 = (pc[w] * rs)[:, None]
    bw, fw = b2[w], f2[w]
    rgbv = wa3 * C[bw, fw, va2[w]] + wb3 * C[bw, fw, vb2[w]] + wc3 * C[bw, fw, vc2[w]]
    farw = is_far[w]
    depth_far = (wa3 * D[bw, fw, va2[w]][:, None] + wb3 * D[bw, fw, vb2[w]][:, None]
                 + wc3 * D[bw, fw, vc2[w]][:, None])[:, 0]
    dep = torch.where(farw, depth_far, area[k][w] * rs)
    vals = torch.cat([rgbv, dep[:, None]], 1)
    vals = torch.where(drawn[:, None], vals, torch.zeros_like(vals))
    return vals, drawn


def _maps_torch(K: torch.Tensor, src_c2w: torch.Tensor, tgt_c2w: torch.Tensor, slope: float,
               min_jump: float) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """(M [B,F,3,3], T [B,F,3], r1, r2): source pixels * z to target pixels * z', and the
    discontinuity ratios (mesh_numba.mesh_thresholds)."""
    dev, f64 = src_c2w.device, torch.float64
    B = src_c2w.shape[0]
    Kb = K.to(dev, f64).expand(B, 3, 3) if K.dim() == 2 else K.to(dev, f64)
    r1, r2 = mesh_numba.mesh_thresholds(Kb.cpu().numpy(), slope, min_jump)
    rel = invert_pose(tgt_c2w.to(dev, f64)).unsqueeze(1) @ src_c2w.to(dev, f64)
    M = Kb.unsqueeze(1) @ rel[..., :3, :3] @ torch.linalg.inv(Kb).unsqueeze(1)
    T = (Kb.unsqueeze(1) @ rel[..., :3, 3:])[..., 0]
    return M, T, r1, r2


def mesh_skirt_torch(rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, src_c2w: torch.Tensor,
                     tgt_c2w: torch.Tensor, covered: torch.Tensor, far: torch.Tensor | None = None,
                     depth_unit: float = 1.0, skirt: int = SKIRT, slope: float = 8.0, min_jump: float = 0.05,
                     near: float = 1e-3) -> WarpResult:
    """The skirts of a mesh warp (mesh_numba._skirt, the torch reference): the first
    mesh_numba._SKIRT_FRAMES (3) frames of rgb [B,F,H,W,3] extended `skirt` pixels past their border with their edge pixels'
    colour, depth and far flag, the extension's triangles drawn, frame after frame, into
    the pixels neither `covered` [B,H,W] (the warp's mask) nor an earlier skirt holds.
    Arguments as mesh_warp_torch; returns the skirt's pixels (rgb, depth, mask)."""
    if int(skirt) != skirt or skirt < 0:
        raise ValueError(f"skirt must be a number of pixels >= 0, got {skirt!r}")
    rgb, depth, src_c2w, far = _checked(rgb, depth, src_c2w, tgt_c2w, far)
    if tuple(covered.shape) != (rgb.shape[0], rgb.shape[2], rgb.shape[3]):
        raise ValueError(f"covered must be [B,H,W]={rgb.shape[0], rgb.shape[2], rgb.shape[3]}, "
                         f"got {tuple(covered.shape)}")
    F = min(rgb.shape[1], mesh_numba._SKIRT_FRAMES)
    rgb, depth, src_c2w = rgb[:, :F], depth[:, :F], src_c2w[:, :F]
    B, _, H, W, _ = rgb.shape
    dev, f64, P = rgb.device, torch.float64, int(skirt)
    He, We = H + 2 * P, W + 2 * P
    rows = torch.arange(-P, H + P, device=dev, dtype=f64)
    cols = torch.arange(-P, W + P, device=dev, dtype=f64)
    ri, ci = rows.clamp(0, H - 1).long(), cols.clamp(0, W - 1).long()
    d = depth.to(f64)[:, :, ri][:, :, :, ci]  # the nearest pixel of the frame
    col = rgb.to(f64)[:, :, ri][:, :, :, ci]
    if far is None:
        isfar = torch.zeros_like(d, dtype=torch.bool)
    else:
        isfar = far.to(dev, torch.bool)[:, :F][:, :, ri][:, :, :, ci]
    M, T, r1, r2 = _maps_torch(K, src_c2w, tgt_c2w, slope, min_jump)
    uv, iz, fl = _project_torch(M, T, rows, cols, d, isfar, near * depth_unit)
    qy, qx = torch.meshgrid(torch.arange(He - 1, device=dev), torch.arange(We - 1, device=dev), indexing="ij")
    outside = ~((qy >= P) & (qy < P + H - 1) & (qx >= P) & (qx < P + W - 1))  # not the mesh's own quads
    qy, qx = qy[outside], qx[outside]  # row order
    a, b_, c, e = qy * We + qx, qy * We + qx + 1, (qy + 1) * We + qx, (qy + 1) * We + qx + 1
    tri = torch.stack([torch.stack([a, b_, c], -1), torch.stack([b_, e, c], -1)], 1).reshape(-1, 3)
    tri_order = torch.arange(tri.shape[0], device=dev)
    FL, D = fl.reshape(B, F, -1), d.reshape(B, F, -1)
    grid = {"tri": tri, "tri_order": tri_order, "keep": _keep_torch(tri, FL, D, r1, r2),
            "U": uv[..., 0].reshape(B, F, -1), "V": uv[..., 1].reshape(B, F, -1), "IZ": iz.reshape(B, F, -1),
            "D": D, "FL": FL, "C": col.reshape(B, F, He * We, 3)}
    out = torch.zeros(B * H * W, 4, dtype=f64, device=dev)
    held = covered.to(dev).reshape(-1).clone()
    drawn = torch.zeros_like(held)
    for f in range(F):
        tv, td = _triangles_torch(grid, [f], ~held, B, H, W)
        out = torch.where(td[:, None], tv, out)
        drawn |= td
        held |= td
    rgb_o = (out[:, :3] / (255.0 if rgb.dtype == torch.uint8 else 1.0)).reshape(B, H, W, 3).to(torch.float32)
    mask = drawn.reshape(B, H, W)
    return WarpResult(rgb=rgb_o, depth=out[:, 3].reshape(B, H, W).to(torch.float32), mask=mask,
                      weight=mask.to(torch.float32))


def mesh_warp_torch(rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, src_c2w: torch.Tensor,
                    tgt_c2w: torch.Tensor, far: torch.Tensor | None = None, depth_unit: float = 1.0,
                    slope: float = 8.0, min_jump: float = 0.05, near: float = 1e-3) -> WarpResult:
    """Mesh source frames into target cameras.

    rgb [B,(F,)H,W,3] (uint8 is converted to [0, 1]), depth [B,(F,)H,W] (<= 0 or non-finite:
    no vertex), K [3,3] or [B,3,3], src_c2w [B,(F,)4,4], tgt_c2w [B,4,4], far [B,(F,)H,W]
    bool (at infinity) or None. Frame 0 is the primary frame; frames 1.. only fill the
    pixels it leaves empty. Output at the source size; holes are 0; weight is the mask.
    """
    rgb, depth, src_c2w, far = _checked(rgb, depth, src_c2w, tgt_c2w, far)
    B, F, H, W, _ = rgb.shape
    dev = rgb.device
    f64 = torch.float64
    col = rgb.to(f64)  # interpolated as given, divided by 255 (uint8) at the end, as the kernel
    d = depth.to(f64)
    isfar = torch.zeros_like(d, dtype=torch.bool) if far is None else far.to(dev, torch.bool)
    M, T, r1, r2 = _maps_torch(K, src_c2w, tgt_c2w, slope, min_jump)
    uv, iz, fl = _project_torch(M, T, torch.arange(H, device=dev, dtype=f64), torch.arange(W, device=dev, dtype=f64),
                                d, isfar, near * depth_unit)

    # triangles: quad (y, x) with corners a b / c e gives a b c (t = 0) and b e c (t = 1)
    qy, qx = torch.meshgrid(torch.arange(H - 1, device=dev), torch.arange(W - 1, device=dev), indexing="ij")
    a, b_, c, e = qy * W + qx, qy * W + qx + 1, (qy + 1) * W + qx, (qy + 1) * W + qx + 1
    tri = torch.stack([torch.stack([a, b_, c], -1), torch.stack([b_, e, c], -1)], 2).reshape(-1, 3)  # [(H-1)(W-1)2, 3]
    # the kernel's drawing order: blocks of _BLOCK x _BLOCK quads, quads row by row, t
    blk = (qy // _BLOCK) * ((W - 2) // _BLOCK + 1) + qx // _BLOCK
    order_q = (blk * (_BLOCK * _BLOCK) + (qy % _BLOCK) * _BLOCK + qx % _BLOCK).reshape(-1)
    tri_order = (order_q[:, None] * 2 + torch.arange(2, device=dev)[None]).reshape(-1)
    n_tri = tri.shape[0]

    U, V = uv[..., 0].reshape(B, F, -1), uv[..., 1].reshape(B, F, -1)
    IZ, D, FL = iz.reshape(B, F, -1), d.reshape(B, F, -1), fl.reshape(B, F, -1)
    C = col.reshape(B, F, H * W, 3)
    keep = _keep_torch(tri, FL, D, r1, r2)  # [B,F,n_tri]

    used = torch.zeros(B, F, H * W, dtype=torch.int64, device=dev)  # vertices of kept triangles
    for k in range(3):
        used.index_add_(2, tri[:, k], keep.to(torch.int64))
    used = used > 0
    known = (FL != 0).reshape(B, F, H, W)  # isolated vertices count only amid known depth
    pad = torch.nn.functional.pad(known.to(torch.uint8), (1, 1, 1, 1), value=1).bool()
    amid = (pad[..., :-2, 1:-1] & pad[..., 2:, 1:-1] & pad[..., 1:-1, :-2] & pad[..., 1:-1, 2:]).reshape(B, F, -1)
    n_pix = B * H * W
    out = torch.zeros(n_pix, 4, dtype=f64, device=dev)
    mask = torch.zeros(n_pix, dtype=torch.bool, device=dev)

    grid = {"tri": tri, "tri_order": tri_order, "keep": keep, "U": U, "V": V, "IZ": IZ, "D": D, "FL": FL, "C": C}

    def triangles(frames: list[int], need: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return _triangles_torch(grid, frames, need, B, H, W)

    def points(frames: list[int], free: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vertices of these frames (of kept triangles, or isolated amid known depth) on
        their nearest pixel where free -> (values, drawn)."""
        sub = (FL[:, frames] != 0) & (used[:, frames] | amid[:, frames])
        bi, fi, vi = torch.nonzero(sub, as_tuple=True)
        fi = torch.as_tensor(frames, device=dev)[fi]
        px = torch.floor(U[bi, fi, vi] + 0.5).to(torch.int64)
        py = torch.floor(V[bi, fi, vi] + 0.5).to(torch.int64)
        inb = (px >= 0) & (px < W) & (py >= 0) & (py < H)
        pix_i = (bi * H + py.clamp(0, H - 1)) * W + px.clamp(0, W - 1)
        inb &= free[pix_i]
        sel = torch.nonzero(inb).squeeze(1)
        is_far = FL[bi, fi, vi] == 2
        key = torch.where(is_far, torch.zeros_like(IZ[bi, fi, vi]), IZ[bi, fi, vi])
        order = fi * (H * W) + vi
        win, drawn = _draw(pix_i[sel], key[sel], order[sel], n_pix)
        w = sel[win.clamp_min(0)]
        bw, fw, vw = bi[w], fi[w], vi[w]
        dep = torch.where(is_far[w], D[bw, fw, vw], 1.0 / IZ[bw, fw, vw].clamp_min(1e-300))
        vals = torch.cat([C[bw, fw, vw], dep[:, None]], 1)
        vals = torch.where(drawn[:, None], vals, torch.zeros_like(vals))
        return vals, drawn

    for f in range(F):  # frame after frame, each only into what the frames before left empty
        need = None if f == 0 else ~mask
        if need is not None and not bool(need.any()):
            break
        tv, td = triangles([f], need)
        out = torch.where(td[:, None], tv, out)
        mask = mask | td
        if f == 0:  # the primary's points (secondary frames' would be stipple in the holes)
            pv, pd = points([0], ~td)
            out = torch.where(pd[:, None], pv, out)
            mask = mask | pd
    out = torch.where(mask[:, None], out, torch.zeros_like(out))
    rgb_o = (out[:, :3] / (255.0 if rgb.dtype == torch.uint8 else 1.0)).reshape(B, H, W, 3).to(torch.float32)
    depth_o = out[:, 3].reshape(B, H, W).to(torch.float32)
    mask = mask.reshape(B, H, W)
    return WarpResult(rgb=rgb_o, depth=depth_o, mask=mask, weight=mask.to(torch.float32))
