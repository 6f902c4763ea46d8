"""The one batched core: N camera sessions stepped together through the spatial constraint.

action -> command -> proposed pose -> limits (leash, collision, separation, coverage floor)
-> pose -> time -> backend -> view. WorldEnv is its batch of one, the vector env its batch
of N, the PettingZoo env its batch of agents. It knows nothing of Gymnasium or of the
generator's internals; tasks see it through `control.session.Sessions`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from ..backends.base import Backend, View
from ..control.actions import Command, decode_actions
from ..control.coverage import COVERAGE_OFFSETS, CoverageEstimator
from ..control.limits import ControlConfig, Obstacles
from ..control.rig import Rig, check_limits
from ..control.session import BLOCKED_DTYPE, Renderer, StepResult
from ..geometry.camera import invert_pose
from ..world.reference import ReferenceWorld

__all__ = ["TIME_MODES", "CameraBatch", "StepResult"]

TIME_MODES = ("play", "loop", "pingpong", "freeze")
#: fractions of the way to the source camera tried for a camera the world has left below the floor
PULL_STEPS = (0.125, 0.25, 0.5, 1.0)


def frame_at(k: np.ndarray, start: np.ndarray, T: np.ndarray, mode: str) -> np.ndarray:
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


class CameraBatch:
    """N camera sessions (lanes), each on one of the given worlds, stepped together.

    Options arrive validated (envs.options); bad actions and poses are caught here, once.
    """

    def __init__(self, worlds: list[ReferenceWorld], backend: Backend, control: ControlConfig,
                 action_mode: str, time_mode: str, render: Renderer, separation: float = 0.0,
                 coverage_offsets: object = COVERAGE_OFFSETS) -> None:
        """separation: minimum distance between lanes (x scene scale), for agents sharing a world;
        render: the geometry-only renderer tasks draw with (ImageNav's goal image);
        coverage_offsets: the reference frames (relative to the shown one) the coverage floor
        estimates a view from: the backend renderer's (WarpRenderer.offsets)."""
        if not worlds:
            raise ValueError("a camera batch needs at least one world")
        sizes = {(w.height, w.width) for w in worlds}
        if len(sizes) > 1:
            raise ValueError(f"all worlds of a batch must share one resolution, got {sorted(sizes)}")
        self.worlds = worlds
        self.n = n = len(worlds)
        self.backend = backend
        self.control = control
        self.action_mode = action_mode
        self.orbit = action_mode == "orbit"
        self.time_mode = time_mode
        self.render = render
        self.separation = float(separation)
        self.rig = Rig(n, control, orbit=self.orbit)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(worlds):
            groups.setdefault(id(w), []).append(i)
        # per distinct world (lists, not dicts keyed by id(): ids change when an env is copied)
        self.groups = [(worlds[v[0]], np.array(v)) for v in groups.values()]
        # the cloud and the scale come from each world's canonical geometry (world.geometry_world),
        # never from the observation size: the same actions collide alike at every resolution
        self.group_obstacles = [Obstacles(w.geometry_world, voxel=max(control.collision_radius / 3, 0.005) * w.scale)
                                for w, _ in self.groups]
        self.lane_group = np.zeros(n, dtype=np.int64)
        for g, (_, lanes_g) in enumerate(self.groups):
            self.lane_group[lanes_g] = g
        self.scales = np.array([w.scale for w in worlds])
        self.frames_total = np.array([w.num_frames for w in worlds], dtype=np.int64)
        self.all_lanes = np.arange(n)
        backend.allocate(n)
        for w, _ in self.groups:
            backend.bind(w)  # once per world, here and nowhere else
        self.start = np.zeros(n, dtype=np.int64)
        self.k = np.zeros(n, dtype=np.int64)
        # the coverage floor: one estimator per distinct world (its low-res geometry is cached per world)
        self.min_coverage = float(control.min_coverage)
        self.group_coverage = [CoverageEstimator(w, coverage_offsets) for w, _ in self.groups] \
            if self.min_coverage > 0 else None
        self.coverage_estimate = np.full(n, np.nan)  # of each lane's current view (NaN: floor off)

    @property
    def anchor(self) -> np.ndarray:
        """[N,4,4] each lane's start pose."""
        return self.rig.anchor

    def obstacles(self, lane: int) -> Obstacles:
        """The collision cloud of the lane's world."""
        return self.group_obstacles[int(self.lane_group[lane])]

    @property
    def frame(self) -> np.ndarray:
        return frame_at(self.k, self.start, self.frames_total, self.time_mode)

    def c2w(self) -> np.ndarray:
        """[N,4,4] current poses (the rig's, computed once per change)."""
        return self.rig.pose

    def reset(self, lanes: np.ndarray, start_frames: np.ndarray, seeds: np.ndarray,
              offsets: np.ndarray | None = None) -> StepResult:
        """Put lanes at the source pose of their start frame (shifted by offsets [n, 3] in
        that camera's frame, x scene scale) and observe them."""
        lanes = np.asarray(lanes, dtype=np.int64)
        start_frames = np.asarray(start_frames, dtype=np.int64)
        for lane, f in zip(lanes, start_frames):
            if not 0 <= f < self.frames_total[lane]:
                raise ValueError(f"start_frame {int(f)} out of range [0, {int(self.frames_total[lane])})")
        anchors = np.stack([self.worlds[i].c2w[f] for i, f in zip(lanes, start_frames)])
        if offsets is not None:
            anchors[:, :3, 3] += np.einsum("nij,nj->ni", anchors[:, :3, :3], offsets) * self.scales[lanes, None]
        seeds = np.asarray(seeds)
        with self._backend_atomic(lanes):  # the backend first: a failure leaves the lanes as they were
            for world, group in self.groups:
                sel = np.isin(lanes, group)
                if sel.any():
                    self.backend.reset(world, lanes[sel], start_frames[sel], seeds[sel])
        with self._atomic():
            self.start[lanes] = start_frames
            self.k[lanes] = 0
            self.rig.reset(lanes, anchors, self.scales[lanes])
            if self.group_coverage is not None:
                self.coverage_estimate[lanes] = self._estimate(self.rig.pose[lanes], self.frame[lanes], lanes)
            return self._observe(lanes, np.zeros(self.n, bool), np.zeros(self.n, bool))

    def step(self, actions: object, active: np.ndarray | None = None) -> StepResult:
        """Advance the active lanes (default: all) by one action and one reference frame.

        actions has one entry per lane; inactive lanes' entries are validated and ignored
        (the vector env resets those lanes instead), and only active lanes are observed.
        The front ends (WorldEnv, the vector env, the PettingZoo env) refuse a step before reset.
        """
        cmd = decode_actions(actions, self.action_mode, self.n, vertical=self.control.vertical)
        with self._atomic():
            return self._advance(cmd, None if active is None else np.asarray(active, bool))

    @contextmanager
    def _backend_atomic(self, lanes: np.ndarray) -> Iterator[None]:
        """Backend calls on several worlds as one: one world's failure undoes the others'
        (one call on one world is all-or-nothing in the backend itself)."""
        if len(self.groups) == 1:
            yield
            return
        saved = self.backend.save(lanes)
        try:
            yield
        except BaseException:
            self.backend.load(lanes, saved)
            raise

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """All or nothing: a failure inside (the backend's observe, an estimate) puts the
        cameras, the time and the coverage estimates back as they were before the step."""
        saved = (self.rig.snapshot(), self.start.copy(), self.k.copy(), self.coverage_estimate.copy())
        try:
            yield
        except BaseException:
            rig, self.start, self.k, self.coverage_estimate = saved
            self.rig.restore(rig)
            raise

    def _advance(self, cmd: Command, active: np.ndarray | None) -> StepResult:
        if active is not None:
            cmd.unit[~active] = 0.0  # inactive lanes do not move
        old_pos = self.rig.pose[:, :3, 3]
        state, new_pos = self.rig.propose(cmd)
        if len(self.groups) == 1:
            world, _ = self.groups[0]
            collided, leashed = check_limits(self.group_obstacles[0], self.control, world.scale, old_pos, new_pos)
        else:
            collided = np.zeros(self.n, dtype=bool)
            leashed = np.zeros(self.n, dtype=bool)
            for (world, lanes), obst in zip(self.groups, self.group_obstacles):
                c, l = check_limits(obst, self.control, world.scale, old_pos[lanes], new_pos[lanes])
                collided[lanes], leashed[lanes] = c, l
        ok = ~(collided | leashed)
        if active is not None:
            ok &= active
        if self.separation > 0:
            crowded = self._crowded(old_pos, new_pos, ok)
            collided |= crowded
            ok &= ~crowded
        covered = None
        carry: tuple[np.ndarray, np.ndarray] | None = None
        if self.group_coverage is not None:
            covered, carry = self._below_floor(cmd, state, ok, active)
            ok &= ~covered
        self.rig.apply(cmd, state, ok, active, keep=covered)
        if carry is not None:
            self.rig.carry(*carry)
        blocked = _reasons(collided, leashed, covered)
        if active is None:
            self.k += 1
            return self._observe(None, collided, leashed, blocked)
        self.k += active
        return self._observe(np.flatnonzero(active), collided, leashed, blocked)

    def _below_floor(self, cmd: Command, state: np.ndarray, ok: np.ndarray,
                     active: np.ndarray | None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """(covered [N] bool, carry): the coverage floor for the active lanes.

        The pose a lane would keep is its current one, or, when the video's camera moves on
        (a pan, a walk) and the current view would fall below the floor at the frame the
        step shows, that pose carried with the source camera (moved by c2w[shown] c2w[now]^-1,
        which keeps the view relative to the reference) if that covers more: otherwise a
        camera standing still loses coverage with every frame and no blocked move prevents
        it. An orbit is carried whole, pivot included.

        covered: lanes whose move or turn (what apply would take after the other limits)
        would show a view covered less than min_coverage and less than the kept pose. A move
        that loses no coverage is always allowed; a lane whose kept pose is below the floor
        (after a reset offset or an explicit pose) may also take any move that brings its
        view nearer the shown frame's source view (_view_distance), so it can always come
        back, whatever the estimate's quantisation (1/256 at 16 px). carry: (lanes, motions
        [n,4,4]) of the lanes that take the carried pose (Rig.carry), or None.

        Updates coverage_estimate for the active lanes."""
        lanes = self.all_lanes if active is None else np.flatnonzero(active)
        covered = np.zeros(self.n, bool)
        if len(lanes) == 0:
            return covered, None
        cur = self.rig.pose[lanes]
        cand = self.rig.candidate(cmd, state, ok, active)[lanes]
        frame = frame_at(self.k[lanes] + 1, self.start[lanes], self.frames_total[lanes], self.time_mode)
        est = self._estimate(cand, frame, lanes)
        moving = (cmd.unit[lanes] != 0).any(axis=1) & (cand != cur).any(axis=(1, 2))
        low = np.flatnonzero(est < self.min_coverage)
        if len(low) == 0:
            self.coverage_estimate[lanes] = est
            return covered, None
        ln, fr, mv = lanes[low], frame[low], moving[low]
        keep = cur[low].copy()  # the pose each low lane keeps if it does not move
        keep_est = est[low].copy()  # a still lane's candidate is its current pose
        if mv.any():
            keep_est[mv] = self._estimate(keep[mv], fr[mv], ln[mv])
        carried = np.zeros(len(low), bool)
        now = self.frame[ln]
        drift = np.flatnonzero((keep_est < self.min_coverage) & (fr != now))
        if len(drift):
            m = np.stack([self.worlds[i].c2w[f] @ invert_pose(self.worlds[i].c2w[g])
                          for i, f, g in zip(ln[drift], fr[drift], now[drift])])
            pose_c = m @ keep[drift]
            est_c = self._estimate(pose_c, fr[drift], ln[drift])
            better = est_c > keep_est[drift]
            keep[drift[better]] = pose_c[better]
            keep_est[drift[better]] = est_c[better]
            carried[drift[better]] = True
            pull = drift[keep_est[drift] < self.min_coverage]
            if len(pull):  # still below: drawn towards the source camera, as little as restores the floor
                src = np.stack([self.worlds[i].c2w[f] for i, f in zip(ln[pull], fr[pull])])
                keep[pull], keep_est[pull] = self._pulled(keep[pull], src, fr[pull], ln[pull])
                carried[pull] = True
        worse = mv & (est[low] < keep_est)  # a move that loses no coverage is allowed
        below = worse & (keep_est < self.min_coverage)
        if below.any():  # below the floor already: a move back towards the source view is too
            src = np.stack([self.worlds[i].c2w[f] for i, f in zip(ln[below], fr[below])])
            scale = self.scales[ln[below]]
            back = _view_distance(cand[low][below], src, scale) < _view_distance(keep[below], src, scale)
            worse[np.flatnonzero(below)[back]] = False
        covered[ln] = worse
        take = carried & (worse | ~mv)  # the carried pose is shown where the lane does not move
        est[low] = np.where(worse | ~mv, keep_est, est[low])
        self.coverage_estimate[lanes] = est
        if not take.any():
            return covered, None
        return covered, (ln[take], keep[take] @ invert_pose(cur[low[take]]))  # the carry as a motion

    def _pulled(self, pose: np.ndarray, src: np.ndarray, frame: np.ndarray,
                lanes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(poses, estimates): each pose [n,4,4] moved the least fraction of PULL_STEPS of the
        way to its source camera src [n,4,4] (position lerp, rotation slerp) that brings its
        view's estimate to the floor; all the way (the source view, covered) if none does."""
        n, k = len(pose), len(PULL_STEPS)
        rel = Rotation.from_matrix(src[:, :3, :3] @ np.swapaxes(pose[:, :3, :3], 1, 2)).as_rotvec()  # [n,3]
        t = np.asarray(PULL_STEPS)[None, :, None]
        cand = np.repeat(pose[:, None], k, 1)  # [n,k,4,4]
        cand[:, :, :3, :3] = Rotation.from_rotvec((t * rel[:, None]).reshape(-1, 3)).as_matrix().reshape(n, k, 3, 3) \
            @ pose[:, None, :3, :3]
        cand[:, :, :3, 3] = pose[:, None, :3, 3] + t * (src[:, None, :3, 3] - pose[:, None, :3, 3])
        cand[:, -1] = src  # the whole way: exactly the source view
        est = self._estimate(cand.reshape(-1, 4, 4), np.repeat(frame, k), np.repeat(lanes, k)).reshape(n, k)
        first = np.where((est >= self.min_coverage).any(1), (est >= self.min_coverage).argmax(1), k - 1)
        rows = np.arange(n)
        return cand[rows, first], est[rows, first]

    def coverage(self, lane: int, c2w: np.ndarray) -> np.ndarray | None:
        """The floor's estimate for views of the lane's world at poses c2w [n,4,4] and the
        lane's current frame, or None when the floor is off (tasks place goals with it)."""
        if self.group_coverage is None:
            return None
        frame = np.full(len(c2w), self.frame[lane], dtype=np.int64)
        return self.group_coverage[int(self.lane_group[lane])](np.asarray(c2w, dtype=np.float64), frame)

    def _estimate(self, c2w: np.ndarray, frame: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Estimated covered fraction of the views of lanes at poses c2w [n,4,4] and frames [n]."""
        if len(self.groups) == 1:
            return self.group_coverage[0](c2w, frame)
        out = np.empty(len(lanes))
        g = self.lane_group[lanes]
        for gi, estimator in enumerate(self.group_coverage):
            sel = g == gi
            if sel.any():
                out[sel] = estimator(c2w[sel], frame[sel])
        return out

    def _crowded(self, old_pos: np.ndarray, new_pos: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Lanes whose move would end within `separation` of another lane (same world),
        whether that lane stays or moves too; such a move is blocked like a collision."""
        moving = moving & (np.linalg.norm(new_pos - old_pos, axis=1) > 0)  # turning in place never crowds
        target = np.where(moving[:, None], new_pos, old_pos)
        blocked = np.zeros(self.n, bool)
        for world, lanes in self.groups:
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

        Explicit poses are what the caller asked for: no leash, collision or coverage floor
        is applied (a lane left below the floor may move back towards the known world).
        """
        if self.orbit:
            raise ValueError("explicit poses need action_mode 'discrete' or 'continuous', not 'orbit'")
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (self.n, 4, 4):
            raise ValueError(f"poses must be [{self.n},4,4], got shape {c2w.shape}")
        bad = np.flatnonzero(~np.isfinite(c2w).all(axis=(1, 2)))
        if len(bad):
            raise ValueError(f"poses must be finite: pose {int(bad[0])} is {c2w[bad[0]].tolist()}")
        R = c2w[:, :3, :3]
        err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max(axis=(1, 2))
        if (err > 1e-4).any():
            i = int(np.argmax(err))
            raise ValueError(f"poses must have orthonormal rotations (rigid camera-to-world): pose {i} is "
                             f"{c2w[i].tolist()} (|R R^T - I| = {err[i]:.3g})")
        det = np.linalg.det(R)
        if (det < 0).any():  # a reflection passes R R^T = I: it would mirror the view
            i = int(np.argmin(det))
            raise ValueError(f"poses must be rotations, not reflections (det R = +1): pose {i} is {c2w[i].tolist()} "
                             f"(det R = {det[i]:.3g})")
        row = np.abs(c2w[:, 3] - [0.0, 0.0, 0.0, 1.0]).max(axis=1)
        if (row > 1e-9).any():
            i = int(np.argmax(row))
            raise ValueError(f"poses must have the last row [0, 0, 0, 1] (rigid camera-to-world): pose {i} is "
                             f"{c2w[i].tolist()}")
        with self._atomic():
            self.rig.set_pose(self.all_lanes, c2w)
            self.k += 1
            if self.group_coverage is not None:
                self.coverage_estimate[:] = self._estimate(self.rig.pose, self.frame, self.all_lanes)
            return self._observe(None, np.zeros(self.n, bool), np.zeros(self.n, bool))

    def _observe(self, lanes: np.ndarray | None, collided: np.ndarray, leashed: np.ndarray,
                 blocked: np.ndarray | None = None) -> StepResult:
        """Views of the given lanes (None: all); the others' slots are left empty."""
        c2w = self.rig.pose
        frame = self.frame
        end = (self.start + self.k >= self.frames_total - 1) if self.time_mode == "play" \
            else np.zeros(self.n, bool)
        if blocked is None:
            blocked = _reasons(collided, leashed, None)
        extra = {"blocked": blocked, "coverage_estimate": self.coverage_estimate.copy()}
        if len(self.groups) == 1 and (lanes is None or len(lanes) == self.n):
            world, _ = self.groups[0]  # the common case: the backend's view is the batch's view
            view = self.backend.observe(world, self.all_lanes, c2w, frame)
            return StepResult(view, c2w, frame, collided, leashed, end, **extra)
        want = np.ones(self.n, bool)
        if lanes is not None:
            want[:] = False
            want[lanes] = True
        H, W = self.worlds[0].height, self.worlds[0].width
        n = self.n
        view = View(rgb=np.zeros((n, H, W, 3), np.uint8), depth=np.zeros((n, H, W), np.float32),
                    mask=np.zeros((n, H, W), bool), render=np.zeros((n, H, W, 3), np.uint8))
        with self._backend_atomic(np.flatnonzero(want)):
            for world, group in self.groups:
                g = group[want[group]]
                if len(g) == 0:
                    continue
                v = self.backend.observe(world, g, c2w[g], frame[g])
                view.rgb[g], view.depth[g], view.mask[g], view.render[g] = v.rgb, v.depth, v.mask, v.render
        return StepResult(view, c2w, frame, collided, leashed, end, **extra)


def _view_distance(c2w: np.ndarray, src: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """[n] how far views c2w [n,4,4] are from source views src [n,4,4]: the distance between
    the centres (x scene scale) plus the angle between the rotations (radians)."""
    pos = np.linalg.norm(c2w[:, :3, 3] - src[:, :3, 3], axis=1) / scale
    cos = (np.einsum("nij,nij->n", c2w[:, :3, :3], src[:, :3, :3]) - 1) / 2
    return pos + np.arccos(np.clip(cos, -1.0, 1.0))


def _reasons(collided: np.ndarray, leashed: np.ndarray, covered: np.ndarray | None) -> np.ndarray:
    """[N] str: the first limit that blocked each lane ("collision", "leash", "coverage") or ""."""
    out = np.full(len(collided), "", dtype=BLOCKED_DTYPE)
    if covered is not None:
        out[covered] = "coverage"
    out[leashed] = "leash"
    out[collided] = "collision"
    return out
