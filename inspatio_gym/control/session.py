"""What a task may see of a batch of camera sessions: the small interface below tasks.

The env's batched core implements `Sessions`; tasks are written against it, so they never
import the env layer (and the env layer never reaches into a task's goals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..geometry.view import View
from ..world.reference import ReferenceWorld
from .limits import ControlConfig, Obstacles

__all__ = ["BLOCKED_DTYPE", "Renderer", "Sessions", "StepResult"]

#: dtype of StepResult.blocked (the longest reason, "collision", fits)
BLOCKED_DTYPE = "<U9"

#: A geometry-only render of one world at cameras c2w [n,4,4] and reference frames [n]:
#: how a task draws a picture (ImageNav's goal image) without touching a generator's state.
Renderer = Callable[[ReferenceWorld, np.ndarray, np.ndarray], View]


@dataclass
class StepResult:
    """One batched step; arrays have one entry per lane."""

    view: View
    c2w: np.ndarray  # [N,4,4] camera-to-world after the step
    frame: np.ndarray  # [N] reference frame index shown
    collided: np.ndarray  # [N] bool
    leashed: np.ndarray  # [N] bool
    end_of_video: np.ndarray  # [N] bool: time cannot advance further ("play" mode)
    #: [N] str: the limit that blocked the lane's move ("collision", "leash", "coverage") or ""
    #: (None: derived from collided / leashed)
    blocked: np.ndarray | None = None
    #: [N] float: the coverage floor's estimate of the view's covered fraction (NaN: floor off)
    coverage_estimate: np.ndarray | None = None

    def blocked_by(self) -> np.ndarray:
        """[N] str: blocked, or the reason collided / leashed give when it was not set."""
        if self.blocked is not None:
            return self.blocked
        return np.where(self.collided, "collision", np.where(self.leashed, "leash", "")).astype(BLOCKED_DTYPE)


class Sessions(Protocol):
    """N camera sessions on one or more worlds (lanes), as a task sees them."""

    n: int
    worlds: list[ReferenceWorld]  # the world of each lane
    lane_group: np.ndarray  # [N] index of the lane's world among the distinct worlds
    control: ControlConfig
    anchor: np.ndarray  # [N,4,4] each lane's start pose (set at reset)
    render: Renderer  # geometry-only renders for tasks

    def obstacles(self, lane: int) -> Obstacles:
        """The collision cloud of the lane's world."""
        ...

    def coverage(self, lane: int, c2w: np.ndarray) -> np.ndarray | None:
        """The coverage floor's estimate for views of the lane's world at poses c2w [n,4,4]
        and the lane's current frame, or None when the floor is off."""
        ...
