"""Which pixels are beyond the scene's measurable range (sky, distant background).

The renderer treats them as at infinity: they rotate with the camera and never translate,
which is right for the sky and nearly right for anything much farther than the camera moves.
Two kinds are flagged, both only as regions of at least MIN_REGION of the frame (a stray
pixel is noise, not sky):

- beyond: the depth (measured, or filled from sparse points) reaches the far end of the
  plane sweep's range (FAR_PLANE_FRACTION of its farthest plane, which is itself three times
  the 95th percentile of the sparse points' depth);
- sky: the sweep could not measure it (not kept), it has no texture, no sparse point fell in
  it, it touches the top of the frame, it lies above the horizon of the first camera (taken
  as upright) and it is blue and bright (SKY_MIN_BLUE, SKY_MIN_BRIGHTNESS). The colour is
  what tells sky from an indoor white wall, which meets every other test (a SUN3D study room
  flagged 11% of its pixels without it, and 3% with a blue margin of 12 for its blue-grey
  partitions); white, overcast or overexposed skies are therefore left unflagged. The
  texture window overlaps the skyline, so each sky region then grows by a window into the
  unmeasured pixels of its colour (a strip of sky between facades is mostly such a band).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["far_mask", "FAR_PLANE_FRACTION", "MIN_REGION"]

#: Depth at or beyond this fraction of the sweep's farthest plane is beyond the scene's range.
FAR_PLANE_FRACTION = 0.8
#: Smallest far region, as a fraction of the frame.
MIN_REGION = 0.01
#: A sky pixel's ray points at least this far above the first camera's horizon (degrees).
HORIZON_DEG = 2.0
#: A sky region holds fewer sparse points than this per 1000 pixels.
MAX_ANCHORS_PER_KPX = 0.5
#: A sky region's median blue exceeds its median red by at least this (0-255; a clear sky
#: by 60-100, a hazy one by ~45, a blue-grey indoor partition by 16), and its median grey
#: level is at least this percentile of the frame's (the sky is among the brightest things).
SKY_MIN_BLUE = 30.0
SKY_MIN_BRIGHTNESS = 75.0
#: A pixel next to a sky region joins it within this colour distance of the region's median
#: (largest channel difference, 0-255).
SKY_COLOUR_TOL = 24.0


def _texture(gray: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation of the grey levels over a window around each pixel."""
    g = gray.astype(np.float32)
    m = cv2.boxFilter(g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    m2 = cv2.boxFilter(g * g, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(m2 - m * m, 0))


def _above_horizon(h: int, w: int, K: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Pixels whose ray rises above the first camera's horizon (its world y points down)."""
    v, u = np.mgrid[:h, :w].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T @ c2w[:3, :3].T
    up = -rays[..., 1] / np.linalg.norm(rays, axis=-1)
    return up > np.sin(np.radians(HORIZON_DEG))


def _regions(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, label image, stats) of the 8-connected regions of a mask."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats


def _large(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    """The mask without its regions smaller than min_pixels."""
    n, labels, stats = _regions(mask)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels]


def _looks_like_sky(rgb: np.ndarray, gray: np.ndarray, region: np.ndarray) -> bool:
    """Whether a region's median colour is blue and bright (SKY_MIN_BLUE, SKY_MIN_BRIGHTNESS)."""
    r, g, b = np.median(rgb[region].astype(np.float32), axis=0)
    bright = np.median(gray[region]) >= np.percentile(gray, SKY_MIN_BRIGHTNESS)
    return bool(b - r >= SKY_MIN_BLUE and b >= g and bright)


def _sky(rgb: np.ndarray, kept: np.ndarray, above: np.ndarray, anchor_uv: np.ndarray, window: int,
         min_texture: float, min_pixels: float) -> np.ndarray:
    """Unmeasured, untextured, blue regions above the horizon that touch the top row and hold
    (almost) no sparse point."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cand = (~kept) & above & (_texture(gray, window) < min_texture)
    n, labels, stats = _regions(cand)
    if n <= 1:
        return np.zeros_like(cand)
    h, w = cand.shape
    u = np.clip(np.round(anchor_uv[:, 0]).astype(int), 0, w - 1)
    v = np.clip(np.round(anchor_uv[:, 1]).astype(int), 0, h - 1)
    hits = np.bincount(labels[v, u], minlength=n)
    area = stats[:, cv2.CC_STAT_AREA]
    keep = (stats[:, cv2.CC_STAT_TOP] == 0) & (area >= min_pixels) & (hits * 1000 < MAX_ANCHORS_PER_KPX * area)
    keep[0] = False
    for i in np.flatnonzero(keep):
        keep[i] = _looks_like_sky(rgb, gray, labels == i)
    return keep[labels]


def _grow(core: np.ndarray, rgb: np.ndarray, free: np.ndarray, window: int) -> np.ndarray:
    """core grown by one window into the `free` pixels within SKY_COLOUR_TOL of its median colour."""
    if not core.any():
        return core
    near = cv2.dilate(core.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (window, window))) > 0
    ref = np.median(rgb[core].astype(np.float32), axis=0)
    close = np.abs(rgb.astype(np.float32) - ref).max(-1) <= SKY_COLOUR_TOL
    return core | (near & free & close)


def far_mask(frames: np.ndarray, depth: np.ndarray, kept: np.ndarray, K: np.ndarray, c2w: np.ndarray,
             far_plane: float, anchors: tuple[np.ndarray, np.ndarray], min_texture: float = 4.0,
             window: int = 7) -> np.ndarray:
    """[T, h, w] bool: pixels beyond the scene's range (see the module docstring).

    frames [T, h, w, 3] uint8, depth and kept [T, h, w] (the sweep's result at the frames'
    size), K and c2w (relative to the first frame) at that size, far_plane: the sweep's
    farthest plane (depth units), anchors: (frame index [M], pixel uv [M, 2]) of the sparse
    points' observations; min_texture and window as the sweep's texture check."""
    T, h, w = depth.shape
    if far_plane <= 0 or not np.isfinite(far_plane):
        raise ValueError(f"far_plane must be a positive depth, got {far_plane!r}")
    min_pixels = MIN_REGION * h * w
    af, auv = anchors
    out = np.zeros((T, h, w), bool)
    for i in range(T):
        beyond = depth[i] >= FAR_PLANE_FRACTION * far_plane
        above = _above_horizon(h, w, K, c2w[i])
        sky = _sky(frames[i], kept[i], above, auv[af == i], window, min_texture, min_pixels)
        sky = _grow(sky, frames[i], ~kept[i] & above, window)
        out[i] = _large(beyond | sky, min_pixels)
    return out
