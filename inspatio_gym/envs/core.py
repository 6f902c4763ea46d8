"""The one batched core that steps sessions: action -> constraint -> pose -> backend -> view.

WorldEnv is its batch of one; the vector env is its batch of N. Nothing here knows of
Gymnasium's wrappers or of the generator's internals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import Backend, View
from ..control.actions import Command, decode_actions
from ..control.limits import ControlConfig, Obstacles
from ..control.rig import Rig, check_limits
from ..world.reference import ReferenceWorld

__all__ = ["TIME_MODES", "SessionBatch", "StepResult"]

TIME_MODES = ("play", "loop", "pingpong", "freeze")


@dataclass
class StepResult:
    """One batched step; arrays have one entry per lane."""

    view: View
    c2w: np.ndarray  # [N,4,4]
    frame: np.ndarray  # [N] reference frame index shown
    collided: np.ndarray  # [N] bool
    leashed: np.ndarray  # [N] bool
    end_of_video: np.ndarray  # [N] bool: time cannot advance further ("play" mode)


def _frame_at(k: np.ndarray, start: np.ndarray, T: np.ndarray, mode: str) -> np.ndarray:
    """Reference frame shown after k steps from start, for each time mode."""
    if mode == "freeze":
        return start.copy()
    if mode == "play":
        return np.minimum(start + k, T - 1)
    if mode == "loop":
        return (start + k) % T
    period = np.maximum(2 * (T - 1), 1)  # pingpong
    p = (start + k) % period
    return np.where(p < T, p, period - p)


class SessionBatch:
    """N camera sessions, each on one of the given worlds, stepped together."""

    def __init__(
        self,
        worlds: list[ReferenceWorld],
        backend: Backend,
        control: ControlConfig,
        action_mode: str = "discrete",
        time_mode: str = "play",
        separation: float = 0.0,
    ) -> None:
        """separation: minimum distance between lanes (x scene scale), for agents sharing a world."""
        if time_mode not in TIME_MODES:
            raise ValueError(f"unknown time_mode {time_mode!r}; expected one of {TIME_MODES}")
        if not worlds:
            raise ValueError("a session batch needs at least one world")
        sizes = {(w.height, w.width) for w in worlds}
        if len(sizes) > 1:
            raise ValueError(f"all worlds of a batch must share one resolution, got {sorted(sizes)}")
        self.worlds = worlds
        self.n = len(worlds)
        self.backend = backend
        self.control = control
        self.action_mode = action_mode
        self.time_mode = time_mode
        self.rig = Rig(self.n, control)
        self._groups = self._group_lanes()
        self.separation = float(separation)
        # per world group (lists, not dicts keyed by id(): ids change when an env is copied)
        self.group_obstacles = [Obstacles(w, voxel=max(control.collision_radius / 3, 0.005) * w.scale)
                                for w, _ in self._groups]
        self.lane_group = np.zeros(self.n, dtype=np.int64)
        for g, (_, lanes_g) in enumerate(self._groups):
            self.lane_group[lanes_g] = g
        backend.allocate(self.n)
        for w in {id(w): w for w in worlds}.values():
            backend.bind(w)
        self.start = np.zeros(self.n, dtype=np.int64)
        self.k = np.zeros(self.n, dtype=np.int64)
        self.frames_total = np.array([w.num_frames for w in worlds], dtype=np.int64)
        self.started = np.zeros(self.n, dtype=bool)

    def _group_lanes(self) -> list[tuple[ReferenceWorld, np.ndarray]]:
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(self.worlds):
            groups.setdefault(id(w), []).append(i)
        return [(self.worlds[v[0]], np.array(v)) for v in groups.values()]

    def obstacles(self, lane: int) -> Obstacles:
        """The collision cloud of the lane's world."""
        return self.group_obstacles[int(self.lane_group[lane])]

    @property
    def frame(self) -> np.ndarray:
        return _frame_at(self.k, self.start, self.frames_total, self.time_mode)

    def reset(self, lanes: np.ndarray, start_frames: np.ndarray, seeds: np.ndarray,
              offsets: np.ndarray | None = None) -> StepResult:
        """Put lanes at the source pose of their start frame (shifted by offsets [n, 3] in
        that camera's frame, x scene scale) and observe."""
        lanes = np.asarray(lanes, dtype=np.int64)
        start_frames = np.asarray(start_frames, dtype=np.int64)
        for lane, f in zip(lanes, start_frames):
            if not 0 <= f < self.frames_total[lane]:
                raise ValueError(f"start_frame {int(f)} out of range [0, {int(self.frames_total[lane])})")
        self.start[lanes] = start_frames
        self.k[lanes] = 0
        anchors = np.stack([self.worlds[i].c2w[f] for i, f in zip(lanes, start_frames)])
        scales = np.array([self.worlds[i].scale for i in lanes])
        if offsets is not None:
            anchors[:, :3, 3] += np.einsum("nij,nj->ni", anchors[:, :3, :3], offsets) * scales[:, None]
        self.rig.reset(lanes, anchors, scales)
        seeds = np.asarray(seeds)
        for world, group in self._groups:
            sel = np.isin(lanes, group)
            if sel.any():
                self.backend.reset(world, lanes[sel], start_frames[sel], seeds[sel])
        self.started[lanes] = True
        n = self.n
        return self._observe(lanes, np.zeros(n, bool), np.zeros(n, bool))

    def step(self, actions: object, active: np.ndarray | None = None) -> StepResult:
        """Advance the active lanes (default: all) by one action and one reference frame.

        actions has one entry per lane; inactive lanes' entries are validated and ignored
        (the vector env resets those lanes instead), and only active lanes are observed.
        """
        if not self.started.all():
            raise RuntimeError("step() called before reset(): call reset() first")
        cmd = decode_actions(actions, self.action_mode, self.n, vertical=self.control.vertical)
        act = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        return self._advance(cmd, act)

    def _advance(self, cmd: Command, active: np.ndarray) -> StepResult:
        cmd.unit[~active] = 0.0  # inactive lanes do not move
        old_pos = self.rig.c2w(cmd.orbit)[:, :3, 3]
        state, new_pos = self.rig.propose(cmd)
        collided = np.zeros(self.n, dtype=bool)
        leashed = np.zeros(self.n, dtype=bool)
        for (world, lanes), obst in zip(self._groups, self.group_obstacles):
            c, l = check_limits(obst, self.control, world.scale, old_pos[lanes], new_pos[lanes])
            collided[lanes], leashed[lanes] = c, l
        if self.separation > 0:
            collided |= self._crowded(old_pos, new_pos, ~(collided | leashed) & active)
        self.rig.apply(cmd, state, ~(collided | leashed) & active, active)
        self.k += active
        return self._observe(np.flatnonzero(active), collided, leashed)

    def _crowded(self, old_pos: np.ndarray, new_pos: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Lanes whose move would end within `separation` of another lane (same world),
        whether that lane stays or moves too; such a move is blocked like a collision."""
        moving = moving & (np.linalg.norm(new_pos - old_pos, axis=1) > 0)  # turning in place never crowds
        target = np.where(moving[:, None], new_pos, old_pos)
        blocked = np.zeros(self.n, bool)
        for world, lanes in self._groups:
            if len(lanes) < 2:
                continue
            lim = self.separation * world.scale
            t = target[lanes]
            d_new = np.linalg.norm(t[:, None] - t[None], axis=-1)
            d_old = np.linalg.norm(t[:, None] - old_pos[lanes][None], axis=-1)
            np.fill_diagonal(d_new, np.inf)
            np.fill_diagonal(d_old, np.inf)
            near = ((d_new < lim) | (d_old < lim)).any(axis=1)
            blocked[lanes] = near & moving[lanes]
        return blocked

    def step_to(self, c2w: np.ndarray) -> StepResult:
        """Advance every lane by one frame to explicit poses [N,4,4] (scripted trajectories).

        Explicit poses are what the caller asked for: no leash or collision is applied.
        """
        if not self.started.all():
            raise RuntimeError("step called before reset(): call reset() first")
        if self.action_mode == "orbit":
            raise ValueError("explicit poses need action_mode 'discrete' or 'continuous', not 'orbit'")
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (self.n, 4, 4) or not np.isfinite(c2w).all():
            raise ValueError(f"poses must be finite [{self.n},4,4], got shape {c2w.shape}")
        R = c2w[:, :3, :3]
        if np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max() > 1e-4:
            raise ValueError("poses must have orthonormal rotations (rigid camera-to-world)")
        self.rig.set_pose(np.arange(self.n), c2w)
        self.k += 1
        none = np.zeros(self.n, dtype=bool)
        return self._observe(np.arange(self.n), none, none)

    def c2w(self) -> np.ndarray:
        return self.rig.c2w(self.action_mode == "orbit")

    def _observe(self, lanes: np.ndarray, collided: np.ndarray, leashed: np.ndarray) -> StepResult:
        """Views of the given lanes (the others' slots are left empty)."""
        c2w = self.c2w()
        frame = self.frame
        H, W = self.worlds[0].height, self.worlds[0].width
        n = self.n
        view = View(
            rgb=np.zeros((n, H, W, 3), np.uint8),
            depth=np.zeros((n, H, W), np.float32),
            mask=np.zeros((n, H, W), bool),
            render=np.zeros((n, H, W, 3), np.uint8),
        )
        want = np.zeros(n, bool)
        want[lanes] = True
        for world, group in self._groups:
            g = group[want[group]]
            if len(g) == 0:
                continue
            v = self.backend.observe(world, g, c2w[g], frame[g])
            view.rgb[g], view.depth[g], view.mask[g], view.render[g] = v.rgb, v.depth, v.mask, v.render
        end = (self.time_mode == "play") & (self.start + self.k >= self.frames_total - 1)
        return StepResult(view, c2w, frame, collided, leashed, end)
