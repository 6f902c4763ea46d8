"""Pictures for people: the debug triptych."""

from __future__ import annotations

import numpy as np

__all__ = ["debug_view"]

HOLE_COLOUR = np.array([255, 0, 255], dtype=np.uint8)


def debug_view(reference: np.ndarray, render: np.ndarray, mask: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """reference | render with uncovered pixels in magenta | observation, [H, 3W, 3] uint8."""
    marked = render.copy()
    marked[~mask] = HOLE_COLOUR
    return np.concatenate([reference, marked, obs], axis=1)
