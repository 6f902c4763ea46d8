"""The warp backend: reference frames splatted into the camera, holes inpainted.

Fast and deterministic, no network: the baseline the generator must beat.
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np
import torch

from ..geometry.cracks import crack_mask
from ..geometry.fill import push_pull_fill
from ..geometry.warp import forward_warp
from ..world.reference import ReferenceWorld
from .base import Backend, View

__all__ = ["WarpBackend"]


INPAINT_MODES = ("pushpull", "telea", "none")


class WarpBackend(Backend):
    """Render of the time-aligned reference frame, fused with neighbours, holes filled.

    neighbours: how many frames on each side fill disocclusions (0 = aligned frame only),
    neighbour_stride: their spacing in frames, alpha: the soft z-buffer sharpness,
    inpaint: "pushpull" (batched pyramid fill: on the procedural worlds 0.2-1.8 dB better
    in the holes than Telea and ~6x faster for 16 lanes), "telea" (OpenCV, per image,
    inpaint_radius pixels) or "none" (holes stay black; depth holes are still filled).
    """

    name = "warp"

    def __init__(self, neighbours: int = 2, neighbour_stride: int = 4, alpha: float = 25.0,
                 inpaint: str = "pushpull", inpaint_radius: int = 3, inpaint_rgb: bool = True) -> None:
        for name, v, lo in (("neighbours", neighbours, 0), ("neighbour_stride", neighbour_stride, 1),
                             ("inpaint_radius", inpaint_radius, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if inpaint not in INPAINT_MODES:
            raise ValueError(f"unknown inpaint {inpaint!r}; expected one of {INPAINT_MODES}")
        self.offsets = np.array([0] + [s * k * neighbour_stride for k in range(1, neighbours + 1) for s in (-1, 1)])
        self.alpha = alpha
        self.inpaint = inpaint
        self.inpaint_radius = inpaint_radius
        self.inpaint_rgb = inpaint_rgb and inpaint != "none"
        self._tensors: "weakref.WeakKeyDictionary[ReferenceWorld, tuple]" = weakref.WeakKeyDictionary()

    def __getstate__(self) -> dict:
        """Copies (pickling, e.g. by SuperSuit) drop the per-world tensor views; bind rebuilds them."""
        state = self.__dict__.copy()
        state["_tensors"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._tensors = weakref.WeakKeyDictionary()

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
        covered = res.mask & ~crack_mask(res.depth, res.mask)  # background seen through gaps is a hole
        render_t = torch.where(covered.unsqueeze(-1), (res.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8),
                               torch.zeros((), dtype=torch.uint8))
        render = render_t.numpy()
        mask = covered.numpy()
        if self.inpaint == "telea":
            rgb, depth = self._telea(render, res.depth.numpy(), mask)
        else:
            if self.inpaint_rgb:
                chans = torch.cat([render_t.to(torch.float32), res.depth.unsqueeze(-1)], -1).permute(0, 3, 1, 2)
            else:  # only depth needs filling (the generator fills the image itself)
                chans = res.depth.unsqueeze(1)
            filled = push_pull_fill(chans, covered.unsqueeze(1)).permute(0, 2, 3, 1)
            depth = filled[..., -1].contiguous().numpy()
            rgb = filled[..., :3].round().clamp(0, 255).to(torch.uint8).numpy() if self.inpaint_rgb else render.copy()
        return View(rgb=rgb, depth=depth, mask=mask, render=render)

    def _telea(self, render: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb, depth_f = render.copy(), depth.copy()
        for i in range(len(render)):
            holes = (~mask[i]).astype(np.uint8)
            if holes.any() and not holes.all():
                if self.inpaint_rgb:
                    rgb[i] = cv2.inpaint(render[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
                depth_f[i] = cv2.inpaint(depth[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
        return rgb, depth_f
