"""The camera rig of a batch of sessions: action commands in, plausible c2w poses out.

Each lane keeps an anchor (the source pose it started at) and either a free-flying state
(position, yaw, pitch, roll relative to the anchor) or an orbit state (pitch, yaw,
displacement about a pivot one scene-scale ahead of the anchor, the whole orbit moved by the
lane's carry: see `carry`). Translation is in the
yaw-rotated anchor frame (walking keeps its height when looking up or down). Angles are
rounded to 1e-9 rad so that turning back and forth returns bit-identical poses.
"""

from __future__ import annotations

import numpy as np

from ..geometry.camera import rot_x, rot_y, rot_z
from .actions import Command
from .limits import ControlConfig, Obstacles

__all__ = ["Rig", "check_limits"]


def _orbit_rel(pitch: np.ndarray, yaw: np.ndarray, radius: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Relative c2w on the sphere of radius about (0,0,radius), then moved disp along its axis.

    Same rotation and translation as the trajectory files (Ry(yaw) Rx(pitch) with the
    original's sign convention: + pitch orbits up, + yaw orbits left).
    """
    cx, sx, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    R = rot_y(yaw) @ rot_x(-pitch)  # + pitch orbits up: the camera tilts down towards the pivot
    t = np.stack([-radius * cx * sy, -radius * sx, radius - radius * cx * cy], -1)
    T = np.zeros((len(pitch), 4, 4))
    T[:, :3, :3] = R
    T[:, :3, 3] = t + R[:, :, 2] * disp[:, None]
    T[:, 3, 3] = 1
    return T


def _clamp_pitch(pitch: np.ndarray, delta: np.ndarray, lim: float) -> np.ndarray:
    """pitch + delta within [-lim, lim]; a pitch already beyond (an explicit pose) may only come back."""
    lo = np.minimum(-lim, pitch)
    hi = np.maximum(lim, pitch)
    return np.minimum(np.maximum(np.round(pitch + delta, 9), lo), hi)  # np.clip, without its overhead


class Rig:
    """Batched camera state; lanes are reset and stepped together.

    `pose` [N,4,4] is the current camera-to-world of every lane, computed once per change
    (reset, apply, set_pose) and replaced, never written in place, so a caller may keep it.
    """

    def __init__(self, n: int, config: ControlConfig, orbit: bool = False) -> None:
        self.n = n
        self.cfg = config
        self.is_orbit = orbit
        self.anchor = np.tile(np.eye(4), (n, 1, 1))
        self.pos = np.zeros((n, 3))
        self.ang = np.zeros((n, 3))  # yaw (right +), pitch (up +), roll
        self.orbit = np.zeros((n, 3))  # pitch (up +), yaw (left +), displacement (forward +)
        self.scale = np.ones(n)
        self.moved = np.tile(np.eye(4), (n, 1, 1))  # the orbit's carry (the identity until carried)
        self.pose = self.c2w(orbit)

    def snapshot(self) -> tuple[np.ndarray, ...]:
        """The whole state (copies), for restore() when a step fails after the rig moved."""
        return (self.anchor.copy(), self.pos.copy(), self.ang.copy(), self.orbit.copy(), self.scale.copy(),
                self.moved.copy(), self.pose)

    def restore(self, state: tuple[np.ndarray, ...]) -> None:
        self.anchor, self.pos, self.ang, self.orbit, self.scale, self.moved, self.pose = state

    def reset(self, lanes: np.ndarray, anchor: np.ndarray, scale: np.ndarray) -> None:
        self.anchor[lanes] = anchor
        self.pos[lanes] = anchor[:, :3, 3]
        self.ang[lanes] = 0.0
        self.orbit[lanes] = 0.0
        self.scale[lanes] = scale
        self.moved[lanes] = np.eye(4)
        self.pose = self.c2w(self.is_orbit)

    def c2w(self, orbit: bool, pos: np.ndarray | None = None, ang: np.ndarray | None = None,
            orb: np.ndarray | None = None) -> np.ndarray:
        """Poses [N,4,4] of the current (or the given) state, computed afresh."""
        if orbit:
            orb = self.orbit if orb is None else orb
            rel = _orbit_rel(orb[:, 0], orb[:, 1], self.scale, orb[:, 2])
            return self.moved @ self.anchor @ rel
        pos = self.pos if pos is None else pos
        ang = self.ang if ang is None else ang
        R = self.anchor[:, :3, :3] @ rot_y(ang[:, 0]) @ rot_x(ang[:, 1])
        if ang[:, 2].any():  # Rz(0) is the identity: skipping it changes no bit
            R = R @ rot_z(ang[:, 2])
        out = np.zeros((self.n, 4, 4))
        out[:, :3, :3] = R
        out[:, :3, 3] = pos
        out[:, 3, 3] = 1
        return out

    def propose(self, cmd: Command) -> tuple[np.ndarray, np.ndarray]:
        """The next state of every lane if nothing blocks it: (state, position)."""
        cfg = self.cfg
        step = cfg.move_step * self.scale
        turn = np.deg2rad(cfg.turn_step)
        lim = np.deg2rad(cfg.pitch_limit)
        if cmd.orbit:
            orb = self.orbit.copy()
            orb[:, 0] = _clamp_pitch(orb[:, 0], turn * cmd.unit[:, 0], lim)
            orb[:, 1] = np.round(orb[:, 1] + turn * cmd.unit[:, 1], 9)
            orb[:, 2] = orb[:, 2] + step * cmd.unit[:, 2]
            return orb, self.c2w(True, orb=orb)[:, :3, 3]
        u = cmd.unit
        ang = self.ang.copy()
        ang[:, 0] = np.round(ang[:, 0] + turn * u[:, 3], 9)
        ang[:, 1] = _clamp_pitch(ang[:, 1], turn * u[:, 4], lim)
        if cfg.allow_roll:
            ang[:, 2] = np.round(ang[:, 2] + turn * u[:, 5], 9)
        body = self.anchor[:, :3, :3] @ rot_y(ang[:, 0])  # yaw-only frame for walking
        pos = self.pos + np.einsum("nij,nj->ni", body, u[:, :3]) * step[:, None]
        return np.concatenate([pos, ang], 1), pos

    def set_pose(self, lanes: np.ndarray, c2w: np.ndarray) -> None:
        """Put lanes at explicit poses [n,4,4] (free rig; angles relative to the anchor).

        The rotation relative to the anchor is decomposed as Ry(yaw) Rx(pitch) Rz(roll), so
        later actions continue from exactly this view.
        """
        R = np.swapaxes(self.anchor[lanes, :3, :3], 1, 2) @ c2w[:, :3, :3]
        pitch = -np.arcsin(np.clip(R[:, 1, 2], -1.0, 1.0))
        roll = np.arctan2(R[:, 1, 0], R[:, 1, 1])
        yaw = np.arctan2(R[:, 0, 2], R[:, 2, 2])
        self.pos[lanes] = c2w[:, :3, 3]
        self.ang[lanes] = np.stack([yaw, pitch, roll], 1)
        self.pose = self.c2w(self.is_orbit)

    def carry(self, lanes: np.ndarray, motion: np.ndarray) -> None:
        """Move lanes' cameras rigidly by motion [n,4,4] (world to world): the coverage floor
        carries a camera with the video's own camera. A free lane is put at the moved pose
        (set_pose); an orbit moves whole, pivot included, and keeps its state."""
        if self.is_orbit:
            self.moved[lanes] = motion @ self.moved[lanes]
            self.pose = self.c2w(True)
        else:
            self.set_pose(lanes, motion @ self.pose[lanes])

    def apply(self, cmd: Command, state: np.ndarray, ok: np.ndarray, active: np.ndarray | None = None,
              keep: np.ndarray | None = None) -> None:
        """Take the proposal on lanes where ok; a blocked lane keeps its position.

        In the free rig rotation still applies on blocked (but active) lanes: turning in place
        is possible past a wall or the leash; an orbit move is all-or-nothing. keep [N] bool:
        lanes that keep their rotation too (the coverage floor blocked the whole move).
        """
        if cmd.orbit:
            self.orbit[ok] = state[ok]
        else:
            self.pos[ok] = state[ok, :3]
            turn = np.ones(self.n, bool) if active is None else active.copy()
            if keep is not None:
                turn &= ~keep
            if turn.all():
                self.ang[:] = state[:, 3:]
            else:
                self.ang[turn] = state[turn, 3:]
        self.pose = self.c2w(self.is_orbit)

    def candidate(self, cmd: Command, state: np.ndarray, ok: np.ndarray,
                  active: np.ndarray | None = None) -> np.ndarray:
        """Poses [N,4,4] that apply(cmd, state, ok, active) would give, without applying them."""
        if cmd.orbit:
            return self.c2w(True, orb=np.where(ok[:, None], state, self.orbit))
        pos = np.where(ok[:, None], state[:, :3], self.pos)
        ang = state[:, 3:] if active is None else np.where(active[:, None], state[:, 3:], self.ang)
        return self.c2w(False, pos=pos, ang=ang)


def check_limits(obstacles: Obstacles, cfg: ControlConfig, scale: float, old_pos: np.ndarray,
                 new_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(collided, leashed) for lanes of one world moving old_pos -> new_pos [N, 3].

    The leash only stops moves that go further from the source path, so a lane outside it
    (e.g. after the source camera moved on) can always come back.
    """
    moved = (new_pos != old_pos).any(axis=1)
    n = len(new_pos)
    d = obstacles.path_distance(np.concatenate([new_pos, old_pos]))  # one pass for both ends
    d_new, d_old = d[:n], d[n:]
    leashed = moved & (d_new > cfg.leash * scale) & (d_new > d_old)
    collided = np.zeros(len(old_pos), dtype=bool)
    if cfg.collision:
        collided = obstacles.blocked(old_pos, new_pos, cfg.collision_radius * scale) & ~leashed
    return collided, leashed
