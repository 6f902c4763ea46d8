"""The interface between the env and whatever turns a camera pose into an image.

The env's batched core hands a backend the lanes of one world, their target poses and
their reference frame indices; the backend returns what each camera sees. The warp
backend does it with geometry alone; the STAR generator plugs in behind the same calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..geometry.view import View
from ..world.reference import ReferenceWorld

__all__ = ["Backend", "View"]


class Backend(ABC):
    """Turns (world, lanes, poses, frames) into Views; may keep per-lane state."""

    name: str = "backend"

    def bind(self, world: ReferenceWorld) -> None:
        """Per-world preparation, done once per world and shared by every lane on it."""

    def allocate(self, lanes: int) -> None:
        """Make room for per-lane state of a batch of this many lanes (called once by the core)."""

    def reset(self, world: ReferenceWorld, lanes: np.ndarray, start_frames: np.ndarray, seeds: np.ndarray) -> None:
        """Start new episodes on these lanes of one world (per-session state: history, RNG)."""

    def save(self, lanes: np.ndarray) -> object:
        """Copies of these lanes' per-lane state (None: the backend keeps none), taken before
        a call on several worlds so that a failure part way through can be undone by load()."""
        return None

    def load(self, lanes: np.ndarray, saved: object) -> None:
        """Put back what save(lanes) returned."""

    @abstractmethod
    def observe(self, world: ReferenceWorld, lanes: np.ndarray, c2w: np.ndarray, frames: np.ndarray) -> View:
        """Views for lanes (indices into the batch) at poses c2w [n,4,4] and frames [n]."""
