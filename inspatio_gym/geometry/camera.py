"""Pinhole cameras in the OpenCV convention: x right, y down, z forward; poses are c2w 4x4.

Pixel (u, v) with integer u in [0, W) and v in [0, H) has its centre ray through
K^-1 [u, v, 1]^T, so a principal point at the image centre is cx = (W - 1) / 2.
Rotations and compositions are done in float64 (drift over long walks matters more
than speed there); images and splats use float32.
"""

from __future__ import annotations

from typing import Any

import math

import numpy as np
import torch

__all__ = [
    "intrinsics_from_fov",
    "scale_intrinsics",
    "rot_x",
    "rot_y",
    "rot_z",
    "make_pose",
    "invert_pose",
    "pixel_grid",
    "unproject",
    "plucker_rays",
    "rotation_to_quaternion",
]


def intrinsics_from_fov(width: int, height: int, fov_x_deg: float = 60.0) -> np.ndarray:
    """K for square pixels with the given horizontal field of view, centred principal point."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width}, height={height}")
    if not 0.0 < fov_x_deg < 180.0:
        raise ValueError(f"fov_x_deg must be in (0, 180), got {fov_x_deg}")
    f = 0.5 * width / math.tan(math.radians(fov_x_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    """K for an image resized by (sx, sy), keeping pixel centres aligned."""
    sy = sx if sy is None else sy
    K2 = np.array(K, dtype=np.float64, copy=True)
    K2[0, 0] *= sx
    K2[1, 1] *= sy
    K2[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K2[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K2


#: (row, col, sign) of cos and sin entries per axis; the axis entry itself is 1
_ROT = {0: ((1, 1), (2, 2), (1, 2), (2, 1)), 1: ((0, 0), (2, 2), (2, 0), (0, 2)), 2: ((0, 0), (1, 1), (0, 1), (1, 0))}


def _rotation(a: Any, axis: int) -> Any:
    """Rotation(s) about one axis: a float gives [3,3], an array or tensor [...] gives [..., 3, 3]
    of the same kind (numpy float64 or torch, as given), so every caller shares one convention."""
    (c0, c1), (c2, c3), (m0, m1), (p0, p1) = _ROT[axis]  # cos, cos, -sin, +sin positions
    if isinstance(a, torch.Tensor):
        c, s = torch.cos(a), torch.sin(a)
        R = torch.zeros(*a.shape, 3, 3, dtype=a.dtype, device=a.device)
    elif np.ndim(a) == 0:
        c, s = math.cos(float(a)), math.sin(float(a))
        R = np.zeros((3, 3))
    else:
        a = np.asarray(a, dtype=np.float64)
        c, s = np.cos(a), np.sin(a)
        R = np.zeros(a.shape + (3, 3))
    R[..., axis, axis] = 1.0
    R[..., c0, c1] = c
    R[..., c2, c3] = c
    R[..., m0, m1] = -s
    R[..., p0, p1] = s
    return R


def rot_x(a: Any) -> Any:
    """Rotation about x (pitch); positive a tilts the optical axis towards -y (up) in OpenCV."""
    return _rotation(a, 0)


def rot_y(a: Any) -> Any:
    """Rotation about y (yaw); positive a turns the optical axis towards +x (right)."""
    return _rotation(a, 1)


def rot_z(a: Any) -> Any:
    """Rotation about the optical axis (roll)."""
    return _rotation(a, 2)


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 rigid transform from a 3x3 rotation and a translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def invert_pose(T: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Inverse of rigid transform(s) [..., 4, 4] without a general matrix inverse."""
    if isinstance(T, torch.Tensor):
        R = T[..., :3, :3]
        t = T[..., :3, 3:]
        out = torch.zeros_like(T)
        Rt = R.transpose(-1, -2)
        out[..., :3, :3] = Rt
        out[..., :3, 3:] = -Rt @ t
        out[..., 3, 3] = 1
        return out
    T = np.asarray(T, dtype=np.float64)
    out = np.zeros_like(T)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ T[..., :3, 3:])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Homogeneous pixel coordinates [H, W, 3] = (u, v, 1)."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij"
    )
    return torch.stack([u, v, torch.ones_like(u)], dim=-1)


def unproject(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points [B, H, W, 3] from z-depth [B, H, W] and K [3, 3] or [B, 3, 3]."""
    B, H, W = depth.shape
    Kinv = torch.linalg.inv(K.to(torch.float64)).to(depth.dtype)
    rays = pixel_grid(H, W, depth.dtype).reshape(-1, 3)  # [HW, 3]
    if Kinv.dim() == 2:
        dirs = (rays @ Kinv.T).reshape(1, H, W, 3)
    else:
        dirs = torch.einsum("nk,bjk->bnj", rays, Kinv).reshape(B, H, W, 3)
    return dirs * depth.unsqueeze(-1)


def plucker_rays(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Plücker ray map [B, H, W, 6] = (d, o x d) with unit world directions d.

    The camera conditioning of the generator: a per-pixel encoding of the ray that is
    independent of where along the ray a point lies.
    """
    c2w = c2w.reshape(-1, 4, 4).to(torch.float32)
    B = c2w.shape[0]
    Kinv = torch.linalg.inv(K.to(torch.float64)).to(torch.float32)
    rays = pixel_grid(height, width).reshape(-1, 3)
    d_cam = rays @ (Kinv.T if Kinv.dim() == 2 else Kinv[0].T)
    d = torch.einsum("nk,bjk->bnj", d_cam, c2w[:, :3, :3])
    d = d / d.norm(dim=-1, keepdim=True)
    o = c2w[:, :3, 3].unsqueeze(1).expand_as(d)
    m = torch.cross(o, d, dim=-1)
    return torch.cat([d, m], dim=-1).reshape(B, height, width, 6)


def rotation_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 for a 3x3 rotation."""
    R = np.asarray(R, dtype=np.float64)
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] > R[2, 2]:
        s = math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q
