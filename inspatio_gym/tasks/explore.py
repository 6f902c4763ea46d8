"""Explore: reward the newly observed fraction of the world.

The world is the reference point cloud merged on a voxel grid (voxel = 0.1 x scene scale).
A voxel is observed when it projects inside the camera's image in front of it and is not
hidden behind the rendered depth there. Reward = newly observed voxels / all voxels.
"""

from __future__ import annotations

import numpy as np

from ..control.session import Sessions, StepResult
from ..geometry.camera import invert_pose
from .base import Task, check_numbers

__all__ = ["ExploreTask"]


class ExploreTask(Task):
    name = "explore"

    def __init__(self, voxel: float = 0.1, depth_tolerance: float = 0.05, shared: bool = False) -> None:
        """shared: one explored set for all lanes of a world (cooperative multi-agent Explore:
        every lane gets the team's newly observed fraction)."""
        check_numbers(voxel=voxel, depth_tolerance=depth_tolerance)
        if voxel <= 0:
            raise ValueError(f"voxel must be > 0, got {voxel}")
        if not isinstance(shared, (bool, np.bool_)):
            raise ValueError(f"shared must be True or False, got {shared!r}")
        self.voxel = voxel
        self.tol = depth_tolerance
        self.shared = shared
        self.grids: dict[int, np.ndarray] = {}  # world group of the core -> voxel centres [P, 3]
        self.seen: list[np.ndarray] = []

    def allocate(self, lanes: int) -> None:
        self.seen = [np.zeros(0, bool) for _ in range(lanes)]
        self.team: dict[int, np.ndarray] = {}  # shared mode: explored set per world group

    def _grid(self, core: Sessions, lane: int) -> np.ndarray:
        world = core.worlds[lane]
        group = int(core.lane_group[lane])
        if group not in self.grids:
            pts = core.obstacles(lane).points.numpy().astype(np.float64)
            v = self.voxel * world.scale
            keys = np.unique(np.floor(pts / v).astype(np.int64), axis=0)
            self.grids[group] = (keys + 0.5) * v
        return self.grids[group]

    def _visible(self, core: Sessions, result: StepResult, lane: int) -> np.ndarray:
        world = core.worlds[lane]
        pts = self._grid(core, lane)
        w2c = invert_pose(result.c2w[lane])
        cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2]
        front = z > 1e-6
        uvw = cam @ world.K.T
        u = np.round(uvw[:, 0] / np.where(front, z, 1)).astype(np.int64)
        v = np.round(uvw[:, 1] / np.where(front, z, 1)).astype(np.int64)
        inside = front & (u >= 0) & (u < world.width) & (v >= 0) & (v < world.height)
        depth = result.view.depth[lane]
        d = np.where(inside, depth[v.clip(0, world.height - 1), u.clip(0, world.width - 1)], 0)
        slack = self.tol * world.scale + self.voxel * world.scale
        return inside & (z <= d + slack)

    def reset(self, core: Sessions, lanes: np.ndarray, rngs: list[np.random.Generator],
              result: StepResult) -> None:
        if self.shared:  # a new team episode per world group: the union of what its lanes see
            for g in np.unique(core.lane_group[lanes]):
                members = np.flatnonzero(core.lane_group == g)
                if not np.isin(members, lanes).all():
                    raise ValueError("cooperative (shared) Explore resets all lanes of a world together; "
                                     f"got lanes {lanes.tolist()} of group {members.tolist()}")
                seen = np.zeros(len(self._grid(core, int(members[0]))), bool)
                for lane in members:
                    seen |= self._visible(core, result, int(lane))
                self.team[int(g)] = seen
            return
        for lane in lanes:
            self.seen[lane] = self._visible(core, result, int(lane))

    def _explored(self, core: Sessions, lane: int) -> np.ndarray:
        return self.team[int(core.lane_group[lane])] if self.shared else self.seen[lane]

    def step(self, core: Sessions, result: StepResult, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = core.n
        reward = np.zeros(n)
        if self.shared:
            for g in np.unique(core.lane_group[active]) if active.any() else []:
                lanes = np.flatnonzero(active & (core.lane_group == g))
                seen = self.team[int(g)]
                vis = np.zeros_like(seen)
                for lane in lanes:
                    vis |= self._visible(core, result, int(lane))
                new = vis & ~seen
                seen |= vis
                reward[np.flatnonzero(core.lane_group == g)[np.isin(np.flatnonzero(core.lane_group == g), lanes)]] = \
                    new.sum() / max(len(seen), 1)
        else:
            for lane in np.flatnonzero(active):
                vis = self._visible(core, result, int(lane))
                new = vis & ~self.seen[lane]
                reward[lane] = new.sum() / max(len(vis), 1)
                self.seen[lane] |= vis
        return reward, np.zeros(n, bool)

    def info(self, core: Sessions, result: StepResult) -> dict[str, np.ndarray]:
        coverage = np.array([self._explored(core, i).mean() if len(self._explored(core, i)) else 0.0
                             for i in range(core.n)])
        return {"explored": coverage}
