"""Depth for clips that give no parallax: a ground-plane prior.

With a static or only rotating camera, geometry cannot be triangulated. The prior assumes
an upright camera at unit height over a floor (rows below the horizon, depth = height x fy
/ (v - cy)) in front of a far backdrop, which is the commonest layout of phone and CCTV
footage; the caller scales the whole clip so that its median depth is 1 (one scale for
every frame: per-frame scaling would move the floor as the camera tilts). It makes
translation plausible (near things below, far things above), not exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ground_plane_depth"]


def ground_plane_depth(height: int, width: int, K: np.ndarray, c2w: np.ndarray | None = None,
                       far: float = 8.0, near: float = 0.5) -> np.ndarray:
    """Depth [H, W] (float32, in units of the camera height) of a floor one unit below the
    camera and a backdrop at `far`; c2w (camera-to-world, world = the first camera) tilts the
    horizon with the camera."""
    v, u = np.mgrid[:height, :width].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # camera frame, z = 1
    if c2w is not None:
        rays = rays @ np.asarray(c2w)[:3, :3].T  # world-frame direction of each pixel's ray, scaled to z_cam = 1
    down = rays[..., 1]  # world y points down (OpenCV axes of the first camera)
    with np.errstate(divide="ignore"):
        z = np.where(down > 1e-6, 1.0 / down, np.inf)  # camera-z depth where the ray meets the floor
    return np.clip(z, near, far).astype(np.float32)
