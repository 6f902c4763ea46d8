"""The warp backend: reference frames splatted into the camera, holes inpainted.

Fast and deterministic, no network: the baseline the generator must beat.
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np
import torch

from ..geometry.warp import forward_warp
from ..world.reference import ReferenceWorld
from .base import Backend, View

__all__ = ["WarpBackend"]


class WarpBackend(Backend):
    """Render of the time-aligned reference frame, fused with neighbours, holes inpainted.

    neighbours: how many frames on each side fill disocclusions (0 = aligned frame only),
    neighbour_stride: their spacing in frames, alpha: the soft z-buffer sharpness,
    inpaint_radius: OpenCV Telea radius in pixels (0 leaves holes black).
    """

    name = "warp"

    def __init__(self, neighbours: int = 2, neighbour_stride: int = 4, alpha: float = 25.0,
                 inpaint_radius: int = 3, inpaint_rgb: bool = True) -> None:
        for name, v, lo in (("neighbours", neighbours, 0), ("neighbour_stride", neighbour_stride, 1),
                             ("inpaint_radius", inpaint_radius, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.offsets = np.array([0] + [s * k * neighbour_stride for k in range(1, neighbours + 1) for s in (-1, 1)])
        self.alpha = alpha
        self.inpaint_radius = inpaint_radius
        self.inpaint_rgb = inpaint_rgb
        self._tensors: "weakref.WeakKeyDictionary[ReferenceWorld, tuple]" = weakref.WeakKeyDictionary()

    def bind(self, world: ReferenceWorld) -> None:
        if world not in self._tensors:
            self._tensors[world] = (
                torch.from_numpy(world.frames),
                torch.from_numpy(world.depth),
                torch.from_numpy(world.c2w),
                torch.from_numpy(world.K),
            )

    def observe(self, world: ReferenceWorld, lanes: np.ndarray, c2w: np.ndarray, frames: np.ndarray) -> View:
        self.bind(world)
        rgb_t, depth_t, c2w_t, K = self._tensors[world]
        idx = np.clip(frames[:, None] + self.offsets[None, :], 0, world.num_frames - 1)
        idx_t = torch.from_numpy(idx)
        res = forward_warp(
            rgb_t[idx_t], depth_t[idx_t], K, c2w_t[idx_t], torch.from_numpy(c2w), alpha=self.alpha,
            depth_unit=world.scale,
        )
        render = (res.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        depth = res.depth.numpy()
        mask = res.mask.numpy()
        rgb = render.copy()
        depth_f = depth.copy()
        if self.inpaint_radius > 0:
            for i in range(len(lanes)):
                holes = (~mask[i]).astype(np.uint8)
                if holes.any():
                    if holes.all():
                        continue
                    if self.inpaint_rgb:
                        rgb[i] = cv2.inpaint(render[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
                    depth_f[i] = cv2.inpaint(depth[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
        return View(rgb=rgb, depth=depth_f, mask=mask, render=render)
