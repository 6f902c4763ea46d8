"""Navigation tasks: reach a goal position (PointNav) or the place a goal image shows (ImageNav).

Goals are sampled per lane from its own RNG: a point at 0.25-0.6 x scene scale from the
start in the level plane, inside the leash, with clearance from the seen geometry, and
reachable along a straight line the collision check lets through. Reward per step:
progress_weight x (distance decrease, in scene-scale units) + success_bonus on success -
step_cost. Success (terminates): within success_radius x scale of the goal.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..geometry.camera import rot_y
from ..control.session import Sessions, StepResult
from .base import Task, check_numbers, horizontal_frame

__all__ = ["PointNavTask", "ImageNavTask"]


class PointNavTask(Task):
    """Goal in the agent's frame as (distance / scale, cos heading, sin heading); + heading is right."""

    name = "pointnav"

    def __init__(self, success_radius: float = 0.1, min_distance: float = 0.25, max_distance: float = 0.6,
                 progress_weight: float = 10.0, success_bonus: float = 5.0, step_cost: float = 0.01) -> None:
        check_numbers(success_radius=success_radius, min_distance=min_distance, max_distance=max_distance,
                      progress_weight=progress_weight, success_bonus=success_bonus, step_cost=step_cost)
        if not 0 < min_distance <= max_distance:
            raise ValueError(f"need 0 < min_distance <= max_distance, got {min_distance}, {max_distance}")
        if success_radius <= 0:
            raise ValueError(f"success_radius must be > 0, got {success_radius}")
        self.success_radius = success_radius
        self.min_distance, self.max_distance = min_distance, max_distance
        self.progress_weight, self.success_bonus, self.step_cost = progress_weight, success_bonus, step_cost
        self.goal = np.zeros((0, 3))
        self.prev = np.zeros(0)
        self.success = np.zeros(0, bool)
        self.valid = np.zeros(0, bool)
        self._d, self._at = np.zeros(0), None

    def extra_spaces(self, height: int, width: int) -> dict[str, spaces.Space]:
        return {"goal": spaces.Box(np.array([0, -1, -1], np.float32), np.array([np.inf, 1, 1], np.float32))}

    def allocate(self, lanes: int) -> None:
        self.goal = np.zeros((lanes, 3))
        self.prev = np.zeros(lanes)
        self.success = np.zeros(lanes, bool)
        self.valid = np.zeros(lanes, bool)

    def _sample(self, core: Sessions, lane: int, start: np.ndarray, rng: np.random.Generator, tries: int = 64
                ) -> tuple[np.ndarray, bool]:
        world = core.worlds[lane]
        obst = core.obstacles(lane)
        s = world.scale
        anchor = core.anchor[lane : lane + 1]
        start = start[None]
        ang = rng.uniform(-np.pi, np.pi, tries)
        dist = rng.uniform(self.min_distance, self.max_distance, tries) * s
        dirs = np.einsum("nij,j->ni", anchor[:, :3, :3] @ rot_y(ang), np.array([0.0, 0.0, 1.0]))
        cand = start + dirs * dist[:, None]
        radius = core.control.collision_radius * s
        ok = obst.path_distance(cand) <= 0.9 * core.control.leash * s
        ok &= obst.clearance(cand) >= 1.5 * radius
        # under a coverage floor, facing the goal and standing on it must keep the view on
        # the known world, or an agent that turns and walks there is blocked
        face = np.repeat(anchor, tries, 0)
        face[:, :3, :3] = anchor[:, :3, :3] @ rot_y(ang)
        at_start, at_goal = face.copy(), face
        at_start[:, :3, 3] = start
        at_goal[:, :3, 3] = cand
        est = core.coverage(lane, np.concatenate([at_start, at_goal]))
        if est is not None:
            ok &= (est[:tries] >= core.control.min_coverage) & (est[tries:] >= core.control.min_coverage)
        for i in np.flatnonzero(ok):
            if not obst.blocked(start, cand[i : i + 1], radius)[0]:
                return cand[i], True
        # no candidate passed every check: the clearest one, flagged in info["goal_valid"]
        return cand[int(np.argmax(obst.clearance(cand)))], False

    def reset(self, core: Sessions, lanes: np.ndarray, rngs: list[np.random.Generator],
              result: StepResult) -> None:
        for lane in lanes:
            self.goal[lane], self.valid[lane] = self._sample(core, int(lane), result.c2w[lane, :3, 3], rngs[lane])
        self.prev[lanes] = self._distance(core, result)[lanes]
        self.success = np.zeros_like(self.success)  # a reset reports no success on any lane

    def _distance(self, core: Sessions, result: StepResult) -> np.ndarray:
        """Distance to the goal per lane (x scene scale), computed once per step and kept."""
        if self._at is not result:
            scale = np.array([w.scale for w in core.worlds])
            self._d, self._at = np.linalg.norm(self.goal - result.c2w[:, :3, 3], axis=1) / scale, result
        return self._d

    def observe(self, core: Sessions, result: StepResult, lanes: np.ndarray) -> dict[str, np.ndarray]:
        c2w = result.c2w[lanes]
        right, fwd, _ = horizontal_frame(c2w, core.anchor[lanes])
        g = self.goal[lanes] - c2w[:, :3, 3]
        heading = np.arctan2((g * right).sum(1), (g * fwd).sum(1))
        d = self._distance(core, result)[lanes]
        return {"goal": np.stack([d, np.cos(heading), np.sin(heading)], 1).astype(np.float32)}

    def step(self, core: Sessions, result: StepResult, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self._distance(core, result)
        success = active & (d <= self.success_radius)
        reward = np.where(active, self.progress_weight * (self.prev - d) - self.step_cost, 0.0)
        reward += self.success_bonus * success
        self.prev = np.where(active, d, self.prev)
        self.success = success
        return reward, success

    def info(self, core: Sessions, result: StepResult) -> dict[str, np.ndarray]:
        d = self._distance(core, result)
        return {"success": self.success.copy(), "distance": d, "goal_valid": self.valid.copy()}


class ImageNavTask(PointNavTask):
    """The goal is the image seen from the goal pose, plus the same reward.

    The goal image comes from the sessions' renderer, which the env injects: its warp
    backend's renderer when it has one (the goal looks as the agent will see it), else a
    default warp (geometry only, so a generator backend's session state is untouched; with
    backend="star" the goal image is therefore a warp, not a generated view)."""

    name = "imagenav"

    def __init__(self, **kw: float) -> None:
        super().__init__(**kw)
        self.goal_image = np.zeros((0, 1, 1, 3), np.uint8)

    def extra_spaces(self, height: int, width: int) -> dict[str, spaces.Space]:
        return {"goal_image": spaces.Box(0, 255, (height, width, 3), np.uint8)}

    def allocate(self, lanes: int) -> None:
        super().allocate(lanes)
        self.goal_image = np.zeros((lanes, 1, 1, 3), np.uint8)

    def reset(self, core: Sessions, lanes: np.ndarray, rngs: list[np.random.Generator],
              result: StepResult) -> None:
        super().reset(core, lanes, rngs, result)
        H, W = core.worlds[0].height, core.worlds[0].width
        if self.goal_image.shape[1:3] != (H, W):
            self.goal_image = np.zeros((core.n, H, W, 3), np.uint8)
        for lane in lanes:
            world = core.worlds[lane]
            yaw = rngs[lane].uniform(-np.pi / 3, np.pi / 3)
            pose = core.anchor[lane].copy()
            pose[:3, :3] = pose[:3, :3] @ rot_y(np.array([yaw]))[0]
            pose[:3, 3] = self.goal[lane]
            frame = result.frame[lane : lane + 1]
            self.goal_image[lane] = core.render(world, pose[None], frame).rgb[0]

    def observe(self, core: Sessions, result: StepResult, lanes: np.ndarray) -> dict[str, np.ndarray]:
        return {"goal_image": self.goal_image[lanes].copy()}
