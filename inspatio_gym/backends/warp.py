"""The warp backend: the reference frames splatted into the camera, holes inpainted.

Fast and deterministic, no network: the baseline the generator must beat. The rendering
itself is `render.WarpRenderer`; this is its seat behind the Backend interface.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..render.warp import WarpRenderer
from ..world.reference import ReferenceWorld
from .base import Backend, View

__all__ = ["WarpBackend"]


class WarpBackend(Backend):
    """Render of the time-aligned reference frame, fused with neighbours, holes filled.

    Options are WarpRenderer's: neighbours (frames on each side filling disocclusions),
    neighbour_stride, alpha (soft z-buffer sharpness), inpaint ("pushpull", "telea",
    "none"), inpaint_radius, inpaint_rgb.
    """

    name = "warp"

    def __init__(self, **options: Any) -> None:
        self.renderer = WarpRenderer(**options)

    def bind(self, world: ReferenceWorld) -> None:
        self.renderer.bind(world)

    def observe(self, world: ReferenceWorld, lanes: np.ndarray, c2w: np.ndarray, frames: np.ndarray) -> View:
        return self.renderer.render(world, c2w, frames)
