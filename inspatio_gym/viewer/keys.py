"""Keys held down -> one continuous action; a step's info -> the overlay's lines.

Shared by the desktop window and the browser viewer, so both walk the same way: held keys
add up (forward and turn at once), each axis clipped to the env's per-step maximum.

    W / Up      forward          S / Down    backward
    A / D       strafe           Left / Right, Q / E   turn
    R / F       look up / down   Space       start / stop recording    Esc   quit
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

__all__ = ["KEYS", "HELP", "action_from_keys", "overlay_lines", "pose_readout"]

#: key name -> (axis of [dx right, dy down, dz forward, dyaw right, dpitch up, droll], sign)
KEYS: dict[str, tuple[int, float]] = {
    "w": (2, 1.0), "up": (2, 1.0), "s": (2, -1.0), "down": (2, -1.0),
    "a": (0, -1.0), "d": (0, 1.0),
    "left": (3, -1.0), "q": (3, -1.0), "right": (3, 1.0), "e": (3, 1.0),
    "r": (4, 1.0), "f": (4, -1.0),
}

HELP = ("W/S or Up/Down move, A/D strafe, Left/Right or Q/E turn", "R/F look up/down, Space record, Esc quit")


def action_from_keys(held: Iterable[str]) -> np.ndarray:
    """The continuous action [6] float32 for the keys held (names as in KEYS; others ignored)."""
    a = np.zeros(6, np.float32)
    for k in set(held):
        if k in KEYS:
            axis, sign = KEYS[k]
            a[axis] += sign
    return np.clip(a, -1.0, 1.0)


def pose_readout(c2w: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """(position in scene-scale units, yaw and pitch in degrees) of a camera-to-world pose
    (camera looks along +z, y down: yaw to the right and pitch up are positive)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    fwd = c2w[:3, 2]
    yaw = math.degrees(math.atan2(fwd[0], fwd[2]))
    pitch = math.degrees(math.asin(float(np.clip(-fwd[1], -1.0, 1.0))))
    return c2w[:3, 3] / max(scale, 1e-12), yaw, pitch


def overlay_lines(info: dict, *, backend: str, time_mode: str, num_frames: int, scale: float,
                  recording: float | None = None) -> list[str]:
    """What the overlay says about a view: backend and time, pose, coverage and what blocked
    the last move; recording: seconds recorded so far, or None."""
    pos, yaw, pitch = pose_readout(info["pose"], scale)
    lines = [f"{backend} | time {time_mode} | frame {int(info['frame']) + 1}/{num_frames}",
             f"pos {pos[0]:+.2f} {pos[1]:+.2f} {pos[2]:+.2f} | yaw {round(yaw) or 0:+d} pitch {round(pitch) or 0:+d}",
             f"coverage {float(info['coverage']):.2f}" + (f" | blocked: {info['blocked']}" if info.get("blocked") else "")]
    if recording is not None:
        lines.append(f"REC {recording:5.1f} s")
    return lines
