"""Depth for clips that give no parallax: a ground-plane prior.

With a static or only rotating camera, geometry cannot be triangulated. The prior assumes
an upright camera at unit height over a floor (rows below the horizon, depth = height x fy
/ (v - cy)) inside a far sphere centred on the camera (the sky and the distant backdrop),
which is the commonest layout of phone and CCTV footage; the caller scales the whole clip
so that its median depth is 1 (one scale for every frame: per-frame scaling would move the
floor as the camera tilts). It makes translation plausible (near things below, far things
above), not exact. A camera pitched up so far that no floor is in view still gets a depth
that varies (the sphere's z-depth falls off towards the image edges), never a flat one, and
the sphere's pixels are flagged as far: they should rotate with the camera, not translate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ground_plane_depth", "ground_plane_prior"]


def _world_rays(height: int, width: int, K: np.ndarray, c2w: np.ndarray | None) -> np.ndarray:
    """[H, W, 3] world-frame direction of each pixel's ray, scaled so that its camera z is 1."""
    v, u = np.mgrid[:height, :width].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    return rays if c2w is None else rays @ np.asarray(c2w)[:3, :3].T


def ground_plane_prior(height: int, width: int, K: np.ndarray, c2w: np.ndarray | None = None, far: float = 8.0,
                       near: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(depth [H, W] float32 in units of the camera height, far mask [H, W] bool): a floor one
    unit below the camera and a sphere of radius `far` around it, whichever the ray meets first;
    the mask marks the sphere (sky, backdrop). c2w (camera-to-world, world = the first camera)
    tilts the horizon with the camera."""
    if not (0 < near < far):
        raise ValueError(f"need 0 < near < far, got near={near!r}, far={far!r}")
    rays = _world_rays(height, width, K, c2w)
    down = rays[..., 1]  # world y points down (OpenCV axes of the first camera)
    length = np.linalg.norm(rays, axis=-1)  # ray length per unit of camera z
    sphere = far / length  # camera-z depth where the ray meets the sphere
    with np.errstate(divide="ignore"):
        floor = np.where(down > 1e-9, 1.0 / np.maximum(down, 1e-9), np.inf)  # camera-z depth at the floor
    sky = floor >= sphere
    depth = np.clip(np.minimum(floor, sphere), near, None)
    return depth.astype(np.float32), sky


def ground_plane_depth(height: int, width: int, K: np.ndarray, c2w: np.ndarray | None = None,
                       far: float = 8.0, near: float = 0.5) -> np.ndarray:
    """The depth of ground_plane_prior alone."""
    return ground_plane_prior(height, width, K, c2w, far, near)[0]
