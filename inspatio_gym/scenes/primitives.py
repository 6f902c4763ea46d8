"""Primitive descriptions and batched analytic ray intersection / signed distance.

Two families cover every shape, so a render is two batched intersection blocks:
  * boxes: oriented (yaw about world y) slab tests; the room is an inside-out box;
  * quadrics: |w * (p - c)| = r cut by the slab |p_y - c_y| <= half_y, with w = (1,1,1)
    and an effectively infinite slab for spheres, w = (1,0,1) for vertical capped cylinders.
Ray directions need not be unit length: the hit parameter t is in units of |d|, so with
camera-frame directions K^-1 [u, v, 1] (z = 1) t is exactly the z-depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .textures import Material

__all__ = [
    "Primitive",
    "yaw_matrix",
    "intersect_boxes",
    "intersect_quadrics",
    "box_sdf",
    "quadric_sdf",
    "room_sdf",
    "SPHERE_HALF_Y",
]

BIG = 1e12
"""Clamp for 1/d so axis-parallel rays give huge-but-finite slab distances (no inf - inf)."""

SPHERE_HALF_Y = 1e6
"""Slab half-height that makes the quadric slab test a no-op for spheres."""

PRIMITIVE_KINDS = ("box", "sphere", "cylinder")


@dataclass(frozen=True)
class Primitive:
    """One object. centre(t) = center + motion * sin(2*pi*t/period + phase).

    size: box half extents (hx, hy, hz) in its local (yawed) frame; sphere (r, r, r);
    cylinder (r, half_height, r). yaw (radians) rotates a box about world y (local->world
    is rot_y(yaw), which turns +z towards +x). Spheres and cylinders ignore yaw for shape
    but it still rotates their texture.
    """

    kind: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    material: Material
    yaw: float = 0.0
    motion: tuple[float, float, float] = (0.0, 0.0, 0.0)
    period: float = 4.0
    phase: float = 0.0
    tex_offset: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if self.kind not in PRIMITIVE_KINDS:
            raise ValueError(f"unknown primitive kind {self.kind!r}; expected one of {PRIMITIVE_KINDS}")
        if min(self.size) <= 0:
            raise ValueError(f"primitive size must be positive, got {self.size}")
        if self.period <= 0:
            raise ValueError(f"period must be positive, got {self.period}")

    @property
    def moving(self) -> bool:
        return any(m != 0.0 for m in self.motion)

    def center_at(self, t: float) -> np.ndarray:
        """Centre at time t (seconds), float64."""
        s = math.sin(2.0 * math.pi * t / self.period + self.phase)
        return np.asarray(self.center, dtype=np.float64) + s * np.asarray(self.motion, dtype=np.float64)


def yaw_matrix(yaw: float) -> np.ndarray:
    """Local->world rotation about world y; positive yaw turns local +z towards world +x."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _safe_reciprocal(d: torch.Tensor) -> torch.Tensor:
    return torch.reciprocal(d).clamp_(-BIG, BIG)


def intersect_boxes(o_local: torch.Tensor, d: torch.Tensor, rot_cat: torch.Tensor,
                    half: torch.Tensor) -> torch.Tensor:
    """Slab test of all rays against all oriented boxes.

    o_local [B, X, 3]: ray origin in each box frame; d [B, R, 3]: world directions;
    rot_cat [3, 3X]: d @ rot_cat gives the local directions of every box at once;
    half [X, 3]. Returns t [B, R, X]: entry distance, or the exit distance when the
    origin is inside (that is how the inside-out room is hit); inf where missed.
    """
    B, R, _ = d.shape
    X = half.shape[0]
    inv = _safe_reciprocal(torch.matmul(d, rot_cat).view(B, R, X, 3))
    tmid = inv * o_local.neg().unsqueeze(1)
    dt = inv.abs_().mul_(half)
    tn = (tmid - dt).amax(-1)
    tf = tmid.add_(dt).amin(-1)
    ok = (tn < tf) & (tf > 0)
    t = torch.where(tn > 0, tn, tf)
    return torch.where(ok, t, torch.inf)


def intersect_quadrics(o: torch.Tensor, d: torch.Tensor, center: torch.Tensor, w: torch.Tensor,
                       radius: torch.Tensor, half_y: torch.Tensor) -> torch.Tensor:
    """First hit of all rays with spheres / vertical capped cylinders.

    o [B, 3], d [B, R, 3], center [B, Q, 3] (time-dependent), w [Q, 3] metric weights,
    radius [Q], half_y [Q]. Returns t [B, R, Q], inf where missed. Interval arithmetic:
    [quadric entry, quadric exit] intersected with the y slab; a hit needs a non-empty
    interval starting in front of the camera.
    """
    oc = o.unsqueeze(1) - center  # [B, Q, 3]
    a = torch.matmul(d * d, w.T).clamp_(min=1e-12)  # [B, R, Q]
    b = torch.matmul(d, (w * oc).transpose(1, 2))
    c = (w * oc * oc).sum(-1) - radius * radius  # [B, Q]
    disc = b * b - a * c.unsqueeze(1)
    hit = disc > 0
    sq = disc.clamp_(min=0.0).sqrt_()
    ia = a.reciprocal_()
    t0 = (b.neg() - sq) * ia
    t1 = (sq.sub_(b)).mul_(ia)
    inv_dy = _safe_reciprocal(d[..., 1:2])  # [B, R, 1]
    tmid = inv_dy * oc[..., 1].neg().unsqueeze(1)
    dt = inv_dy.abs_() * half_y
    tn = torch.maximum(t0, tmid - dt)
    tf = torch.minimum(t1, tmid.add_(dt))
    ok = hit & (tn < tf) & (tn > 0)
    return torch.where(ok, tn, torch.inf)


def box_sdf(p: torch.Tensor, center: torch.Tensor, rot: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Exact signed distance [N, X] from points p [N, 3] to oriented boxes.

    center [X, 3], rot [X, 3, 3] local->world, half [X, 3].
    """
    q = p.unsqueeze(1) - center.unsqueeze(0)  # [N, X, 3]
    ql = torch.einsum("nxi,xij->nxj", q, rot)  # R^T q as row vectors
    dq = ql.abs() - half
    outside = dq.clamp(min=0.0).norm(dim=-1)
    inside = dq.amax(-1).clamp(max=0.0)
    return outside + inside


def quadric_sdf(p: torch.Tensor, center: torch.Tensor, w: torch.Tensor, radius: torch.Tensor,
                half_y: torch.Tensor) -> torch.Tensor:
    """Exact signed distance [N, Q] to spheres and vertical capped cylinders."""
    q = p.unsqueeze(1) - center.unsqueeze(0)  # [N, Q, 3]
    radial = (q * q * w).sum(-1).sqrt() - radius
    axial = q[..., 1].abs() - half_y
    dd = torch.stack([radial, axial], -1)
    return dd.clamp(min=0.0).norm(dim=-1) + dd.amax(-1).clamp(max=0.0)


def room_sdf(p: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Distance [N] from points to the nearest room wall; positive inside, negative outside."""
    return torch.minimum(p - lo, hi - p).amin(-1)
