"""Dense depth from known poses: a multi-frame plane sweep on the CPU.

For each reference frame, fronto-parallel planes (uniform in inverse depth over the range
of the sparse SfM points it sees) map each neighbour frame into it by a homography; the
matching cost is 1 - NCC over a small window, averaged over the better half of the
neighbours (a point occluded in some views still matches in the others). The best plane
per pixel, refined by a parabola, is its depth; a pixel is kept when its cost is low, its
window has texture and the depths of neighbouring frames agree when reprojected
(geometric consistency, which also makes the maps temporally consistent). Holes are then
filled by push-pull in inverse depth from the kept depths and the sparse SfM points that
fall in them (anchors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from ..geometry.fill import push_pull_fill

__all__ = ["MvsSettings", "plane_sweep_depth", "select_neighbours"]


@dataclass(frozen=True)
class MvsSettings:
    planes: int = 48  # depth hypotheses per frame
    neighbours: int = 4  # frames matched against each reference frame
    window: int = 7  # NCC window (pixels)
    max_cost: float = 0.5  # 1 - NCC above this is a failed match
    min_texture: float = 4.0  # std of the window (grey levels 0-255) below this is untextured
    consistency: float = 0.05  # relative depth agreement with a neighbour's reprojected depth
    min_baseline: float = 0.02  # neighbour baselines below this x median depth carry no depth


def _baselines(c2w: np.ndarray) -> np.ndarray:
    centres = c2w[:, :3, 3]
    return np.linalg.norm(centres[:, None] - centres[None], axis=-1)


def select_neighbours(c2w: np.ndarray, scale: float, count: int, min_baseline: float) -> list[np.ndarray]:
    """For each frame, up to `count` frames nearest in time whose baseline is at least
    min_baseline x scale (alternating before/after); the widest baselines when none is."""
    N = len(c2w)
    B = _baselines(c2w)
    out = []
    for i in range(N):
        cand = sorted((j for j in range(N) if j != i), key=lambda j: (abs(j - i), j))
        good = [j for j in cand if B[i, j] >= min_baseline * scale]
        if len(good) < min(count, N - 1):
            good += [j for j in np.argsort(-B[i]) if j != i and j not in good]
        out.append(np.array(good[:count], dtype=np.int64))
    return out


def _box(x: np.ndarray, k: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def _sweep(ref: np.ndarray, others: list[np.ndarray], K: np.ndarray, rel: list[np.ndarray], inv_depths: np.ndarray,
           s: MvsSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cost volume argmin for one reference frame: (depth, cost, texture std)."""
    H, W = ref.shape
    k = s.window
    mr = _box(ref, k)
    vr = np.maximum(_box(ref * ref, k) - mr * mr, 0)
    Kinv = np.linalg.inv(K)
    costs = np.empty((len(inv_depths), H, W), np.float32)
    per = np.empty((len(others), H, W), np.float32)
    ones = np.ones_like(ref)
    for d, inv_d in enumerate(inv_depths):
        for n, (img, T) in enumerate(zip(others, rel)):
            R, t = T[:3, :3], T[:3, 3:]
            Hm = K @ (R + t @ np.array([[0.0, 0.0, inv_d]])) @ Kinv  # ref pixel -> neighbour pixel on plane z = 1/inv_d
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            w = cv2.warpPerspective(img, Hm, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            valid = cv2.warpPerspective(ones, Hm, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            mw = _box(w, k)
            vw = np.maximum(_box(w * w, k) - mw * mw, 0)
            cov = _box(ref * w, k) - mr * mw
            ncc = cov / np.sqrt(vr * vw + 1e-6)
            c = 1.0 - ncc
            per[n] = np.where(_box(valid, k) > 0.99, c, 2.0)  # outside the neighbour: worst cost
        if len(others) > 1:  # mean of the better half: robust to occlusion in some views
            half = max(1, len(others) // 2)
            costs[d] = np.sort(per, axis=0)[:half].mean(0)
        else:
            costs[d] = per[0]
    best = np.argmin(costs, axis=0)
    c0 = np.take_along_axis(costs, best[None], 0)[0]
    lo = np.take_along_axis(costs, np.clip(best - 1, 0, len(inv_depths) - 1)[None], 0)[0]
    hi = np.take_along_axis(costs, np.clip(best + 1, 0, len(inv_depths) - 1)[None], 0)[0]
    den = lo - 2 * c0 + hi
    off = np.where((den > 1e-6) & (best > 0) & (best < len(inv_depths) - 1), 0.5 * (lo - hi) / np.maximum(den, 1e-6), 0)
    step = inv_depths[1] - inv_depths[0] if len(inv_depths) > 1 else 0.0
    inv = inv_depths[best] + np.clip(off, -0.5, 0.5) * step
    return (1.0 / np.maximum(inv, 1e-9)).astype(np.float32), c0, np.sqrt(vr)


def _reproject_agrees(i: int, j: int, depth: np.ndarray, K: np.ndarray, c2w: np.ndarray, tol: float) -> np.ndarray:
    """Pixels of frame i whose 3D point, seen from frame j, lands where j's depth agrees."""
    H, W = depth.shape[1:]
    v, u = np.mgrid[:H, :W].astype(np.float64)
    pix = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3)
    X = (pix @ np.linalg.inv(K).T) * depth[i].reshape(-1, 1)
    T = np.linalg.inv(c2w[j]) @ c2w[i]
    Xj = X @ T[:3, :3].T + T[:3, 3]
    z = Xj[:, 2]
    p = Xj @ K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        uj, vj = p[:, 0] / z, p[:, 1] / z
    ok = (z > 1e-6) & (uj >= 0) & (uj <= W - 1) & (vj >= 0) & (vj <= H - 1)
    dj = np.zeros_like(z)
    ui, vi = np.round(uj[ok]).astype(int), np.round(vj[ok]).astype(int)
    dj[ok] = depth[j][vi, ui]
    agree = ok & (dj > 0) & (np.abs(dj - z) <= tol * z)
    return agree.reshape(H, W)


def plane_sweep_depth(frames: np.ndarray, K: np.ndarray, c2w: np.ndarray, depth_range: tuple[float, float],
                      settings: MvsSettings = MvsSettings(), progress: Callable[[int], None] | None = None,
                      anchors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Depth [N, H, W] float32 for frames [N, H, W, 3] uint8 with intrinsics K and poses c2w
    (any unit; depth_range (near, far) in that unit), and the mask [N, H, W] of pixels that
    passed every check (measured, not filled). progress(n) is called after each frame.

    anchors (frame index [M], pixel uv [M, 2], depth [M]): sparse points that seed the hole
    filling where the sweep kept no measurement (they never overwrite a kept pixel)."""
    N, H, W, _ = frames.shape
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames])
    near, far = depth_range
    inv_depths = np.linspace(1.0 / far, 1.0 / near, settings.planes)
    scale = float(np.sqrt(near * far))
    nbrs = select_neighbours(c2w, scale, settings.neighbours, settings.min_baseline)
    raw = np.zeros((N, H, W), np.float32)
    good = np.zeros((N, H, W), bool)
    for i in range(N):
        rel = [np.linalg.inv(c2w[j]) @ c2w[i] for j in nbrs[i]]
        d, cost, tex = _sweep(gray[i], [gray[j] for j in nbrs[i]], K, rel, inv_depths, settings)
        raw[i] = d
        good[i] = (cost < settings.max_cost) & (tex > settings.min_texture)
        if progress:
            progress(1)
    kept = np.where(good, raw, 0)
    consistent = np.zeros_like(good)
    for i in range(N):
        for j in nbrs[i][:2]:
            consistent[i] |= _reproject_agrees(i, int(j), kept, K, c2w, settings.consistency)
    final = good & consistent
    inv_np = np.where(final, 1.0 / np.maximum(raw, 1e-9), 0).astype(np.float32)
    seeds = final.copy()
    if anchors is not None:
        f, uv, z = anchors
        u = np.round(uv[:, 0]).astype(int)
        v = np.round(uv[:, 1]).astype(int)
        ok = (z > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        f, u, v, z = f[ok], u[ok], v[ok], z[ok]
        free = ~final[f, v, u]
        inv_np[f[free], v[free], u[free]] = 1.0 / z[free]
        seeds[f[free], v[free], u[free]] = True
    inv = torch.from_numpy(inv_np).unsqueeze(1)
    filled = push_pull_fill(inv, torch.from_numpy(seeds).unsqueeze(1))[:, 0].numpy()
    fallback = 1.0 / scale
    filled = np.where(filled > 0, filled, fallback)  # frames with no kept pixel at all
    return (1.0 / filled).astype(np.float32), final
