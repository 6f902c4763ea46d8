"""How much of a camera's view the reference world covers, estimated before a move is taken.

The coverage floor (`ControlConfig.min_coverage`) keeps the camera where the world is
known: a move or turn whose view the reference frames would cover less than the floor is
blocked like a collision. The estimate is the warp's own surface rasteriser
(`geometry.mesh_numba.mesh`, its coverage mask only) run on a low-resolution copy of the
world's canonical geometry (`world.geometry_world`, min-pooled to ~16 px on the long side),
with the reference frames the warp renderer uses for the shown frame (the time-aligned one
and its neighbours at `offsets`). Measured on 2 cores: a 16 px lane takes ~14 us with the 5
default frames (~8 us with the shown frame alone), so up to PART_PIXEL_FRAMES' worth of
lanes per thread an estimate stays on the calling thread (16 lanes: ~240 us); with the
candidate poses' re-estimates (1 to 4 lanes each) a 16-lane step at 64 px spends ~0.6 ms of
its ~4 ms here, the largest cost after the view itself. Keeping them on one thread made
the 16-lane vector env 1.04x faster (side by side, 5 rounds).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..geometry.mesh import MESH_DEFAULTS
from ..geometry.mesh_numba import mesh
from ..world.reference import ReferenceWorld

__all__ = ["COVERAGE_OFFSETS", "CoarseGeometry", "CoverageEstimator", "coarse_geometry"]

#: the warp renderer's default reference frames around the shown one (neighbours=2, stride=4)
COVERAGE_OFFSETS = (0, -4, 4, -8, 8)
#: pixel-frames (lanes x pixels x frames) a thread's share of one estimate must hold before
#: the lanes are split across threads: a hand-off to the lane pool costs ~75 us on 2 cores,
#: a 16 px lane with 5 frames ~14 us (16 such lanes: 242 us on one thread, 227 us split;
#: 4 lanes: 58 us against 121 us split; 32 lanes: 466 against 347)
PART_PIXEL_FRAMES = 12_800
#: the mesh rasteriser's settings: the warp renderer's (slope 8, min_jump 0.05, near 1e-3)
SLOPE, MIN_JUMP, NEAR = MESH_DEFAULTS["slope"], MESH_DEFAULTS["min_jump"], MESH_DEFAULTS["near"]


@dataclass(frozen=True, eq=False)
class CoarseGeometry:
    """A world's geometry at low resolution: depth [T,h,w] (min-pooled), far [T,h,w] or
    None, K [3,3] of the pooled pixels, source poses c2w [T,4,4], scale; frames are zeros
    (only the coverage mask is used)."""

    frames: np.ndarray
    depth: np.ndarray
    far: np.ndarray | None
    K: np.ndarray
    c2w: np.ndarray
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        return int(self.depth.shape[1]), int(self.depth.shape[2])


_CACHE: "weakref.WeakKeyDictionary[ReferenceWorld, dict[int, CoarseGeometry]]" = weakref.WeakKeyDictionary()


def _pool(depth: np.ndarray, far: np.ndarray | None, b: int) -> tuple[np.ndarray, np.ndarray | None]:
    """b x b blocks of depth [T,H,W] -> [T,H//b,W//b]: the nearest solid depth of the block
    (a thin or near surface is not pooled away); a block with no solid pixel takes its
    nearest far pixel (and is far), one with no valid pixel is 0 (unknown)."""
    T, H, W = depth.shape
    h, w = H // b, W // b
    d = depth[:, : h * b, : w * b].reshape(T, h, b, w, b)
    valid = d > 0
    if far is None:
        solid = valid
    else:
        solid = valid & ~far[:, : h * b, : w * b].reshape(T, h, b, w, b)
    inf = np.float32(np.inf)
    d_solid = np.where(solid, d, inf).min(axis=(2, 4))
    if far is None:
        return np.where(np.isfinite(d_solid), d_solid, 0).astype(np.float32), None
    d_valid = np.where(valid, d, inf).min(axis=(2, 4))
    is_far = ~np.isfinite(d_solid) & np.isfinite(d_valid)
    out = np.where(np.isfinite(d_solid), d_solid, np.where(is_far, d_valid, 0))
    return out.astype(np.float32), is_far


def coarse_geometry(world: ReferenceWorld, long_side: int = 16) -> CoarseGeometry:
    """The world's canonical geometry pooled to about long_side pixels on its long side
    (an integer block size; K scaled to match: f * s, (c + 0.5) * s - 0.5); made once per
    world and size (cached weakly: it goes with the world)."""
    geo = world.geometry_world
    per_world = _CACHE.get(geo)
    if per_world is None:
        per_world = _CACHE[geo] = {}
    if long_side in per_world:
        return per_world[long_side]
    b = max(1, int(round(max(geo.height, geo.width) / long_side)))
    b = min(b, geo.height, geo.width)
    depth, far = _pool(geo.depth, geo.far, b)
    s = 1.0 / b
    K = geo.K.copy()
    K[0, 0] *= s
    K[1, 1] *= s
    K[0, 2] = (K[0, 2] + 0.5) * s - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * s - 0.5
    frames = np.zeros(depth.shape + (3,), np.uint8)
    per_world[long_side] = CoarseGeometry(frames, depth, far, K, np.ascontiguousarray(geo.c2w), float(geo.scale))
    return per_world[long_side]


class CoverageEstimator:
    """Estimated covered fraction of the views of cameras c2w [B,4,4] at reference frames [B]
    of one world (see the module docstring)."""

    def __init__(self, world: ReferenceWorld, offsets: tuple[int, ...] | np.ndarray = COVERAGE_OFFSETS,
                 long_side: int = 16) -> None:
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if len(offsets) == 0:
            raise ValueError("coverage offsets must name at least one frame (0: the shown one)")
        self.offsets = offsets
        self.geo = coarse_geometry(world, long_side)
        self.num_frames = len(self.geo.c2w)
        h, w = self.geo.size
        self.min_lanes_per_thread = max(2, -(-PART_PIXEL_FRAMES // (h * w * len(offsets))))

    def __call__(self, c2w: np.ndarray, frames: np.ndarray) -> np.ndarray:
        c2w = np.asarray(c2w, dtype=np.float64).reshape(-1, 4, 4)
        if len(c2w) == 0:
            return np.zeros(0)
        g = self.geo
        idx = np.clip(np.asarray(frames, dtype=np.int64)[:, None] + self.offsets[None, :], 0, self.num_frames - 1)
        _, _, mask = mesh(g.frames, g.depth, g.far, g.K, g.c2w, idx, c2w, g.scale, SLOPE, MIN_JUMP, NEAR, g.size,
                          self.min_lanes_per_thread)
        return mask.reshape(len(c2w), -1).mean(axis=1)
