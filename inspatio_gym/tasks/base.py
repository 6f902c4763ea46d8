"""Tasks: what a session is rewarded for, on top of the world (batched over lanes).

A task adds observation fields, samples per-lane goals at reset from the lane's own RNG,
and turns each step's StepResult into rewards and terminations. It sees the sessions
through `control.session.Sessions` (worlds, start poses, obstacles, a geometry renderer) and
the views; it knows nothing of the env layer, of attention or of Gymnasium wrappers.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..control.session import Sessions, StepResult

__all__ = ["Task", "check_numbers", "horizontal_frame"]


def check_numbers(**values: object) -> None:
    """Each task option a finite real number, or a ValueError naming it and its value (a
    string used to fail as "'<=' not supported between instances of 'str' and 'int'", and
    nan to pass every range check)."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")


def horizontal_frame(c2w: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, forward, down) unit axes [N, 3] of each camera's heading in the anchor's level plane."""
    down = anchor[:, :3, 1]
    fwd = c2w[:, :3, 2] - (c2w[:, :3, 2] * down).sum(1, keepdims=True) * down
    norm = np.linalg.norm(fwd, axis=1, keepdims=True)
    fwd = np.where(norm > 1e-9, fwd / np.maximum(norm, 1e-12), anchor[:, :3, 2])
    right = np.cross(down, fwd)
    return right, fwd, down


class Task:
    """No reward, no termination: the free-roaming world."""

    name = "free"

    def extra_spaces(self, height: int, width: int) -> dict[str, spaces.Space]:
        """Observation fields this task adds (empty: the observation stays as it is)."""
        return {}

    def allocate(self, lanes: int) -> None:
        """Per-lane state for a batch of this many lanes."""

    def reset(self, sessions: Sessions, lanes: np.ndarray, rngs: list[np.random.Generator],
              result: StepResult) -> None:
        """New episodes on these lanes: sample goals from each lane's RNG."""

    def observe(self, sessions: Sessions, result: StepResult, lanes: np.ndarray) -> dict[str, np.ndarray]:
        """This task's observation fields for the lanes, batched."""
        return {}

    def step(self, sessions: Sessions, result: StepResult, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(reward [N], terminated [N]) after a step of the active lanes."""
        n = sessions.n
        return np.zeros(n), np.zeros(n, bool)

    def info(self, sessions: Sessions, result: StepResult) -> dict[str, np.ndarray]:
        """This task's info fields [N, ...] after a reset or a step (no reward is computed)."""
        return {}
