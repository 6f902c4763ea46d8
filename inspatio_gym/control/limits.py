"""What makes a requested camera pose plausible: leash, collision with the seen geometry.

Distances are multiples of the world's scale (median depth), so one configuration fits a
room, a street or a table top.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from ..geometry.camera import unproject
from ..world.reference import ReferenceWorld

__all__ = ["ControlConfig", "Obstacles"]


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

    @classmethod
    def from_kwargs(cls, **kw: object) -> "ControlConfig":
        names = {f.name for f in fields(cls)}
        bad = sorted(set(kw) - names)
        if bad:
            raise ValueError(f"unknown control option(s) {bad}; known: {sorted(names)}")
        cfg = cls(**kw)  # type: ignore[arg-type]
        for name in ("move_step", "turn_step", "leash", "collision_radius"):
            v = getattr(cfg, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if not 0 <= cfg.pitch_limit <= 89.9:
            raise ValueError(f"pitch_limit must be in [0, 89.9] degrees, got {cfg.pitch_limit}")
        return cfg


class Obstacles:
    """The reference depth as a point cloud the camera may not pass through.

    Every valid depth pixel of every reference frame (subsampled to at most max_points)
    becomes a world point; a camera position whose clearance to the cloud falls below the
    body radius is in collision. Moves are tested at sub-steps no longer than the radius so
    a step cannot tunnel through a surface.
    """

    def __init__(self, world: ReferenceWorld, max_points: int = 40000) -> None:
        depth = torch.from_numpy(world.depth)
        K = torch.from_numpy(world.K)
        T = world.num_frames
        step = max(1, int(np.ceil(np.sqrt(T * world.height * world.width / max_points))))
        pts_cam = unproject(depth[:, ::1, ::1].to(torch.float64), K)[:, ::step, ::step]  # [T,h,w,3]
        valid = (depth[:, ::step, ::step] > 0).reshape(T, -1)
        c2w = torch.from_numpy(world.c2w)
        pts = torch.einsum("tnk,tjk->tnj", pts_cam.reshape(T, -1, 3), c2w[:, :3, :3]) + c2w[:, None, :3, 3]
        self.points = pts[valid].to(torch.float32).contiguous()  # [P, 3]
        self.path = world.c2w[:, :3, 3].copy()  # source camera positions [T, 3]

    def clearance(self, positions: np.ndarray) -> np.ndarray:
        """Distance from each position [N, 3] to the nearest reference point."""
        q = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float32))
        return torch.cdist(q, self.points).amin(dim=1).to(torch.float64).numpy()

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
        clr = self.clearance(samples.reshape(-1, 3)).reshape(n, k)
        here = self.clearance(start)
        hit = (clr < radius) & (clr < here[:, None] - 1e-9)
        return moving & hit.any(axis=1)
