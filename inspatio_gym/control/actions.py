"""Action spaces and their decoding into camera motion commands.

Three modes, all decoded into the same batched command arrays so the rig code is shared:
- "discrete": Discrete(9) (or 11 with vertical moves): noop, forward, backward, strafe left,
  strafe right, turn left, turn right, look up, look down[, up, down];
- "continuous": Box(-1, 1, (6,)) = [dx right, dy down, dz forward, dyaw right, dpitch up, droll],
  scaled by the per-step maxima;
- "orbit": Box(-1, 1, (3,)) = [dpitch up, dyaw left, ddisplacement forward] about the scene
  pivot, the parameterisation of the original system's trajectory files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["ACTION_MODES", "DISCRETE_ACTIONS", "Command", "action_space", "decode_actions"]

ACTION_MODES = ("discrete", "continuous", "orbit")

DISCRETE_ACTIONS = (
    "noop",
    "forward",
    "backward",
    "strafe_left",
    "strafe_right",
    "turn_left",
    "turn_right",
    "look_up",
    "look_down",
    "up",
    "down",
)

# Each discrete action as a unit command [dx, dy, dz, dyaw, dpitch, droll] (rig conventions).
_DISCRETE_TABLE = np.array(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, -1, 0, 0, 0],
        [-1, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, -1, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, -1, 0],
        [0, -1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
    ],
    dtype=np.float64,
)


@dataclass
class Command:
    """Per-lane motion in units of the per-step maxima: [N, 6] for the free rig, [N, 3] for orbit."""

    unit: np.ndarray
    orbit: bool


def action_space(mode: str, vertical: bool = False) -> spaces.Space:
    if mode == "discrete":
        return spaces.Discrete(11 if vertical else 9)
    if mode == "continuous":
        return spaces.Box(-1.0, 1.0, (6,), dtype=np.float32)
    if mode == "orbit":
        return spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)
    raise ValueError(f"unknown action_mode {mode!r}; expected one of {ACTION_MODES}")


def _discrete_index(a: Any, n: int) -> int:
    arr = np.asarray(a)
    if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer):
        if arr.ndim == 0 and np.issubdtype(arr.dtype, np.floating) and float(arr).is_integer():
            arr = arr.astype(np.int64)
        else:
            raise ValueError(
                f"action_mode 'discrete' expects an integer in [0, {n}), got {a!r} "
                f"(shape {arr.shape}, dtype {arr.dtype}); is the env in the mode you meant?"
            )
    i = int(arr)
    if not 0 <= i < n:
        raise ValueError(f"discrete action {i} out of range [0, {n})")
    return i


def _box_action(a: Any, dim: int, mode: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"action_mode {mode!r} expects {dim} floats in [-1, 1], got {a!r}") from None
    if arr.shape != (dim,):
        raise ValueError(
            f"action_mode {mode!r} expects shape ({dim},), got {a!r} with shape {arr.shape}; "
            "is the env in the mode you meant?"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"action contains NaN or inf: {arr.tolist()}")
    if (np.abs(arr) > 1.0 + 1e-6).any():
        raise ValueError(f"action {arr.tolist()} is outside the action space [-1, 1]^{dim}")
    return np.clip(arr, -1.0, 1.0)


def decode_actions(actions: Any, mode: str, n_lanes: int, vertical: bool = False) -> Command:
    """Validate a batch of actions (a sequence or array with one entry per lane)."""
    if mode == "discrete":
        n = 11 if vertical else 9
        acts = np.asarray(actions)
        if acts.ndim == 1 and np.issubdtype(acts.dtype, np.integer) and len(acts) == n_lanes:
            if ((acts < 0) | (acts >= n)).any():
                bad = acts[(acts < 0) | (acts >= n)][0]
                raise ValueError(f"discrete action {int(bad)} out of range [0, {n})")
            idx = acts.astype(np.int64)
        else:
            if len(actions) != n_lanes:
                raise ValueError(f"expected {n_lanes} actions, got {len(actions)}")
            idx = np.array([_discrete_index(a, n) for a in actions], dtype=np.int64)
        return Command(_DISCRETE_TABLE[idx], orbit=False)
    dim = 6 if mode == "continuous" else 3  # orbit; the mode was validated with the env's options
    acts = np.asarray(actions, dtype=object if not isinstance(actions, np.ndarray) else None)
    if isinstance(actions, np.ndarray) and actions.shape == (n_lanes, dim) and actions.dtype != object:
        arr = actions.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"action contains NaN or inf: {arr[~np.isfinite(arr).all(1)][0].tolist()}")
        if (np.abs(arr) > 1.0 + 1e-6).any():
            raise ValueError(f"action {arr[(np.abs(arr) > 1 + 1e-6).any(1)][0].tolist()} is outside [-1, 1]^{dim}")
        unit = np.clip(arr, -1.0, 1.0)
    else:
        if len(acts) != n_lanes:
            raise ValueError(f"expected {n_lanes} actions, got {len(acts)}")
        unit = np.stack([_box_action(a, dim, mode) for a in actions])
    return Command(unit, orbit=(mode == "orbit"))
