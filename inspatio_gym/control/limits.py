"""What makes a requested camera pose plausible: leash, collision with the seen geometry,
and the coverage floor (the view must stay where the world is known: control/coverage.py).

Distances are multiples of the world's scale (median depth), so one configuration fits a
room, a street or a table top.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numbers

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..geometry.camera import unproject
from ..world.reference import ReferenceWorld

__all__ = ["ControlConfig", "Obstacles", "UnknownOption"]


@dataclass(frozen=True)
class ControlConfig:
    """Per-step maxima and limits; lengths in units of the world's scale, angles in degrees."""

    move_step: float = 0.05  # translation per step at full action
    turn_step: float = 3.0  # yaw / pitch / roll per step at full action
    pitch_limit: float = 45.0  # |pitch| relative to the start view
    allow_roll: bool = False
    vertical: bool = False  # discrete up/down actions
    leash: float = 0.75  # max distance from the source camera path
    collision: bool = True
    collision_radius: float = 0.06  # camera body radius
    min_coverage: float = 0.6  # least estimated covered fraction of the view a move or turn may reach (0: off)

    @classmethod
    def from_kwargs(cls, **kw: object) -> "ControlConfig":
        """Validated config; raises UnknownOption for names it does not know."""
        names = {f.name for f in fields(cls)}
        bad = sorted(set(kw) - names)
        if bad:
            raise UnknownOption(f"unknown env option(s) {bad}; control options are {sorted(names)}")
        for name, v in kw.items():
            if name in ("allow_roll", "vertical", "collision"):
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"{name} must be True or False, got {v!r}")
            elif isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            elif v < 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        cfg = cls(**{k: (bool(v) if isinstance(v, np.bool_) else v) for k, v in kw.items()})  # type: ignore[arg-type]
        if not 0 <= cfg.pitch_limit <= 89.9:
            raise ValueError(f"pitch_limit must be in [0, 89.9] degrees, got {cfg.pitch_limit}")
        if not 0 <= cfg.min_coverage <= 1:
            raise ValueError(f"min_coverage must be in [0, 1], got {cfg.min_coverage}")
        return cfg


class UnknownOption(ValueError):
    """An env keyword that no part of the env understands."""


class Obstacles:
    """The reference depth as a point cloud the camera may not pass through.

    Every valid depth pixel of every reference frame becomes a world point (far pixels,
    at infinity, do not: the sky is no wall); points are
    merged on a voxel grid (one point per voxel, at its centre), so the cloud's density
    does not depend on the number of frames and a long video cannot thin it below the
    body radius. A camera position whose clearance to the cloud falls below the radius is
    in collision; moves are tested at sub-steps no longer than half the radius so a step
    cannot tunnel through a surface.
    """

    def __init__(self, world: ReferenceWorld, voxel: float, chunk: int = 32) -> None:
        if not (voxel > 0 and np.isfinite(voxel)):
            raise ValueError(f"voxel size must be > 0, got {voxel}")
        self.voxel = float(voxel)
        K = torch.from_numpy(world.K)
        keys = torch.zeros(0, dtype=torch.int64)
        for i in range(0, world.num_frames, chunk):
            depth = torch.from_numpy(world.depth[i : i + chunk])
            c2w = torch.from_numpy(world.c2w[i : i + chunk])
            pts = unproject(depth.to(torch.float64), K).reshape(len(depth), -1, 3)
            pts = torch.einsum("tnk,tjk->tnj", pts, c2w[:, :3, :3]) + c2w[:, None, :3, 3]
            solid = torch.from_numpy(world.solid(slice(i, i + chunk)))  # far pixels (sky) are no obstacle
            pts = pts[solid.reshape(len(depth), -1)]
            keys = torch.unique(torch.cat([keys, self._keys(pts)]))
        ijk = torch.stack([(keys >> 42) & 0x1FFFFF, (keys >> 21) & 0x1FFFFF, keys & 0x1FFFFF], -1) - (1 << 20)
        self.points = ((ijk.to(torch.float64) + 0.5) * self.voxel).to(torch.float32).contiguous()  # [P, 3]
        self.path = world.c2w[:, :3, 3].copy()  # source camera positions [T, 3]
        self._tree = cKDTree(self.points.numpy().astype(np.float64)) if len(self.points) else None

    def _keys(self, pts: torch.Tensor) -> torch.Tensor:
        ijk = torch.floor(pts / self.voxel).to(torch.int64).clamp(-(1 << 20), (1 << 20) - 1) + (1 << 20)
        return (ijk[:, 0] << 42) | (ijk[:, 1] << 21) | ijk[:, 2]

    def clearance(self, positions: np.ndarray, upper: float = np.inf) -> np.ndarray:
        """Distance from each position [N, 3] to the nearest reference point (exact, k-d tree);
        inf where it is `upper` or more (a bounded search prunes the tree: 10x faster)."""
        if self._tree is None:
            return np.full(len(positions), np.inf)
        pts = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        return self._tree.query(pts, distance_upper_bound=upper)[0]

    def path_distance(self, positions: np.ndarray) -> np.ndarray:
        """Distance from each position [N, 3] to the nearest source camera position."""
        d = positions[:, None, :] - self.path[None, :, :]
        return np.sqrt((d * d).sum(-1)).min(axis=1)

    def blocked(self, start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
        """True where moving start -> end [N, 3] comes closer than radius to the cloud.

        A lane already closer than radius may still move if it does not get closer (escape).
        """
        n = len(start)
        length = np.linalg.norm(end - start, axis=1)
        moving = length > 0
        if radius <= 0 or not moving.any():
            return np.zeros(n, dtype=bool)
        k = int(np.clip(np.ceil(length.max() / (0.5 * radius)), 1, 64))
        fr = np.arange(1, k + 1, dtype=np.float64) / k  # sub-steps along the segment
        samples = start[:, None, :] + fr[None, :, None] * (end - start)[:, None, :]
        # one k-d tree query, bounded by the radius: a hit needs clr < radius, and then
        # clr < here compares exact values or clr with inf (here >= radius) as unbounded would
        both = self.clearance(np.concatenate([samples.reshape(-1, 3), start]), upper=radius)
        clr, here = both[: n * k].reshape(n, k), both[n * k:]
        hit = (clr < radius) & (clr < here[:, None] - 1e-9)
        return moving & hit.any(axis=1)
