"""A world's reference frames rendered into a camera as surfaces, holes inpainted.

Fast and deterministic, no network: the warp backend's image, and the STAR backend's condition.
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np
import torch

from ..geometry.mesh import MESH_DEFAULTS, mesh_warp
from ..geometry.view import SURFACES, View, finish_splat, warp_view
from ..geometry.warp import forward_warp
from ..world.reference import ReferenceWorld

__all__ = ["INPAINT_MODES", "WarpRenderer"]


INPAINT_MODES = ("pushpull", "telea", "none")


class WarpRenderer:
    """Render of the time-aligned reference frame, fused with neighbours, holes filled.

    surface: "mesh" (each frame a triangle mesh over its depth, the default: closed surfaces,
    no stipple; the world's far pixels at infinity) or "splat" (points, the earlier
    renderer); neighbours: how many frames on each side fill disocclusions (0 = aligned frame only),
    neighbour_stride: their spacing in frames, alpha: the splat's soft z-buffer sharpness,
    inpaint: "pushpull" (batched pyramid fill: on the procedural worlds 0.2-1.8 dB better
    in the holes than Telea and ~6x faster for 16 lanes), "telea" (OpenCV, per image,
    inpaint_radius pixels) or "none" (holes stay black; depth holes are still filled).
    A view that covers nothing (an explicit pose looking away from everything seen) shows
    the reference frame nearest to it in pose instead of black; its mask stays all False.
    """

    def __init__(self, neighbours: int = 2, neighbour_stride: int = 4, alpha: float = 25.0,
                 inpaint: str = "pushpull", inpaint_radius: int = 3, inpaint_rgb: bool = True,
                 surface: str = "mesh") -> None:
        for name, v, lo in (("neighbours", neighbours, 0), ("neighbour_stride", neighbour_stride, 1),
                             ("inpaint_radius", inpaint_radius, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if inpaint not in INPAINT_MODES:
            raise ValueError(f"unknown inpaint {inpaint!r}; expected one of {INPAINT_MODES}")
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}; expected one of {SURFACES}")
        self.surface = surface
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

    def bind(self, world: ReferenceWorld) -> tuple:
        """The world's arrays as tensors (views, no copy), made once per world."""
        tensors = self._tensors.get(world)
        if tensors is None:
            tensors = self._tensors[world] = (
                torch.from_numpy(world.frames),
                torch.from_numpy(world.depth),
                torch.from_numpy(world.c2w),
                torch.from_numpy(world.K),
                None if world.far is None else torch.from_numpy(world.far),
            )
        return tensors

    def render(self, world: ReferenceWorld, c2w: np.ndarray, frames: np.ndarray) -> View:
        """Views of cameras c2w [n,4,4] at reference frames [n] of one world (bound on first use:
        a copied renderer, e.g. after pickling, starts without its per-world tensors)."""
        rgb_t, depth_t, c2w_t, K, far_t = self._tensors.get(world) or self.bind(world)
        idx = np.clip(frames[:, None] + self.offsets[None, :], 0, world.num_frames - 1)
        tgt = torch.from_numpy(c2w)
        mesh = self.surface == "mesh"
        if self.inpaint == "telea":  # the raw render and its mask, then OpenCV per image
            i = torch.from_numpy(idx)
            if mesh:
                res = mesh_warp(rgb_t[i], depth_t[i], K, c2w_t[i], tgt, None if far_t is None else far_t[i],
                                depth_unit=world.scale, **MESH_DEFAULTS)
            else:
                res = forward_warp(rgb_t[i], depth_t[i], K, c2w_t[i], tgt, alpha=self.alpha, depth_unit=world.scale)
            view = finish_splat(res, fill_rgb=False, cracks=not mesh)
            rgb, depth = self._telea(view.render, res.depth.numpy(), view.mask)
            view = View(rgb=rgb, depth=depth, mask=view.mask, render=view.render)
        else:
            view = warp_view(rgb_t, depth_t, K, c2w_t, idx, tgt, alpha=self.alpha, depth_unit=world.scale,
                             fill_rgb=self.inpaint_rgb, surface=self.surface, far=far_t if mesh else None)
        empty = ~view.mask.reshape(len(c2w), -1).any(axis=1)
        if empty.any():
            _nearest_fill(view, world, c2w, np.flatnonzero(empty), self.inpaint_rgb)
        return view

    def _telea(self, render: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb, depth_f = render.copy(), depth.copy()
        for i in range(len(render)):
            holes = (~mask[i]).astype(np.uint8)
            if holes.any() and not holes.all():
                if self.inpaint_rgb:
                    rgb[i] = cv2.inpaint(render[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
                depth_f[i] = cv2.inpaint(depth[i], holes, self.inpaint_radius, cv2.INPAINT_TELEA)
        return rgb, depth_f


def _nearest_fill(view: View, world: ReferenceWorld, c2w: np.ndarray, lanes: np.ndarray, fill_rgb: bool) -> None:
    """Lanes whose view covers nothing show the reference frame nearest in pose (viewing
    direction first, then position in scene scales) rather than a black or flat frame;
    their mask stays all False, so coverage reads 0. In place."""
    fwd = world.c2w[:, :3, 2]  # optical axes of the reference frames
    for lane in lanes:
        angle = np.arccos(np.clip(fwd @ c2w[lane, :3, 2], -1.0, 1.0))
        dist = np.linalg.norm(world.c2w[:, :3, 3] - c2w[lane, :3, 3], axis=1) / world.scale
        k = int(np.argmin(angle + 0.25 * dist))
        if fill_rgb:
            view.rgb[lane] = world.frames[k]
        view.depth[lane] = world.depth[k]
