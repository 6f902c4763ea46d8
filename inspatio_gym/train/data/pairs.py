"""Generator training pairs: the spatial condition a frame would get at inference, and its truth.

Synthetic (camera control): a procedural reference video along a source path, and a target
camera path at the same times (the source path moved by a random rigid offset that drifts
slowly), both rendered exactly, so the target shows true disocclusions. The condition is
the reference warped into the target cameras by the STAR backend's own warp and
conditioning (`condition_renderer`, `condition_from_view`), exactly as at inference.

Real (visual fidelity): from a multi-view scene (world.sources.multiview) a true novel
view: the reference frame rendered at another frame's camera, that real frame the truth
(real disocclusions, real textures); from a video, the target is the frame itself and
the condition a double reprojection, the frame warped with its depth to a random nearby
camera and back, so its holes have the shapes of disocclusions.

Every pair also carries the warp's filled image (its holes push-pull filled): the
refiner's input and starting point.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from ...geometry.camera import make_pose, rot_x, rot_y
from ...geometry.view import View, finish_splat
from ...geometry.warp import forward_warp
from ...render.condition import condition_from_view, condition_renderer, fill_from_view
from ...world.reference import ReferenceWorld
from ...world.sources import procedural_world
from .seeds import TRAIN_SEEDS

__all__ = ["NOVEL_VIEW_GAPS", "PairBatch", "RealPairs", "SyntheticPairs", "double_reprojection",
           "double_reprojection_view", "random_offset", "window_frames"]

#: Frame gaps of a multi-view scene's novel-view pairs, either way: never within the
#: reference window (+-1) nor a warp neighbour (+-4, +-8), which would show the truth itself.
NOVEL_VIEW_GAPS = (2, 3, 5, 6)


@dataclass
class PairBatch:
    """B clips of T frames: target truth, condition (render, mask) and the reference frames."""

    target: torch.Tensor  # [B, T, 3, H, W] in [-1, 1]
    render: torch.Tensor  # [B, T, 3, H, W] in [-1, 1], holes -1
    mask: torch.Tensor  # [B, T, 1, H, W] 0/1
    reference: torch.Tensor  # [B, T + 2w, 3, H, W] in [-1, 1]: frame t's reference window is t..t+2w
    fill: torch.Tensor  # [B, T, 3, H, W] in [-1, 1]: the render with its holes filled (the warp's image)


def random_offset(rng: np.random.Generator, scale: float, max_move: float = 0.5, max_turn: float = 15.0) -> np.ndarray:
    """A rigid offset (c2w relative to the source camera): a move up to max_move x scale and
    yaw / pitch up to max_turn / (max_turn / 2) degrees."""
    d = rng.normal(size=3)
    d *= rng.uniform(0, max_move * scale) / max(np.linalg.norm(d), 1e-9)
    R = rot_y(math.radians(rng.uniform(-max_turn, max_turn))) @ rot_x(math.radians(rng.uniform(-max_turn, max_turn) / 2))
    return make_pose(R, d)


def _to_pm1(frames_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


class SyntheticPairs:
    """Pairs from procedural worlds: see the module docstring. Worlds are cached (LRU)."""

    def __init__(self, size: int = 64, frames: int = 3, world_frames: int = 24, cache: int = 32,
                 max_move: float = 0.5, max_turn: float = 15.0, ref_window: int = 1, pool: int | None = None) -> None:
        """pool: draw worlds from the first `pool` training seeds only (and cache them all):
        building a world costs ~0.1 s, far more than a training step's use of it."""
        self.size, self.frames, self.world_frames = int(size), int(frames), int(world_frames)
        self.pool = pool
        if pool is not None:
            cache = max(cache, pool)
        self.ref_window = int(ref_window)
        self.max_move, self.max_turn = max_move, max_turn
        self.warp = condition_renderer()
        self._worlds: OrderedDict[tuple, ReferenceWorld] = OrderedDict()
        self._cache = cache

    def world(self, seed: int, kind: str, path: str) -> ReferenceWorld:
        key = (seed, kind, path)
        if key not in self._worlds:
            self._worlds[key] = procedural_world(seed=seed, kind=kind, path=path, num_frames=self.world_frames,
                                                 width=self.size, height=self.size)
            while len(self._worlds) > self._cache:
                self._worlds.popitem(last=False)
        self._worlds.move_to_end(key)
        return self._worlds[key]

    def clip(self, world: ReferenceWorld, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """(target, render, mask, reference) of one clip of self.frames frames."""
        T = self.frames
        start = int(rng.integers(0, world.num_frames - T + 1))
        idx = np.arange(start, start + T)
        scene = world.meta["scene"]
        for _ in range(8):  # the target camera must stay in free space (inside the room, off objects)
            off0 = random_offset(rng, world.scale, self.max_move, self.max_turn)
            centre = (world.c2w[start] @ off0)[:3, 3]
            if float(scene.distance(torch.from_numpy(centre[None]), float(start) / world.fps)[0]) > 0.05 * world.scale:
                break
        else:
            off0 = np.eye(4)
        drift = random_offset(rng, world.scale, 0.02, 1.0)  # the target path is not a rigid copy
        offs = [off0]
        for _ in range(T - 1):
            offs.append(offs[-1] @ drift)
        c2w = np.stack([world.c2w[i] @ o for i, o in zip(idx, offs)])
        t = torch.from_numpy(idx.astype(np.float32) / world.fps)
        rgb, _ = scene.render(torch.from_numpy(c2w), torch.from_numpy(world.K), self.size, self.size, t, 2)
        target = rgb.permute(0, 3, 1, 2) * 2 - 1
        target = (((target + 1) * 127.5 + 0.5).floor().clamp(0, 255) / 127.5 - 1)  # uint8 like real frames
        view = self.warp.render(world, c2w, idx)
        render, mask = condition_from_view(view)
        return (target, render, mask, _to_pm1(world.frames[window_frames(idx, self.ref_window, world.num_frames)]),
                fill_from_view(view))

    def sample(self, batch: int, rng: np.random.Generator) -> PairBatch:
        parts = []
        for _ in range(batch):
            hi = TRAIN_SEEDS.stop if self.pool is None else TRAIN_SEEDS.start + self.pool
            seed = int(rng.integers(TRAIN_SEEDS.start, hi))
            # with a pool, a seed is one world (its kind and path follow from it), so the pool
            # holds `pool` worlds, each built once; without, every draw is free
            pick = np.random.default_rng(seed) if self.pool is not None else rng
            kind = "street" if pick.random() < 0.3 else "room"
            path = ("pan", "dolly", "orbit")[int(pick.integers(3))]
            parts.append(self.clip(self.world(seed, kind, path), rng))
        return PairBatch(*(torch.stack(x) for x in zip(*parts)))


def window_frames(idx: np.ndarray, w: int, n: int) -> np.ndarray:
    """Reference frames idx[0]-w .. idx[-1]+w clipped to the video, as the generator's
    WorldCache.window clips them: frame t of the clip attends to entries t..t+2w."""
    return np.clip(np.arange(int(idx[0]) - w, int(idx[-1]) + w + 1), 0, n - 1)


class RealPairs:
    """Pairs from real worlds (video frames with estimated or measured depth and poses).

    A multi-view scene (world.meta["multiview"]) gives true novel views: reference frames
    k..k+T-1 rendered at the cameras of frames k+g (g in NOVEL_VIEW_GAPS, either way, one
    per clip), those real frames the targets. A video: the target is the video itself and
    the condition its double reprojection; the reference window is taken from a time
    shifted by 2..max_shift frames (either way, clipped): at inference the reference frame
    is rarely the very view asked for, and a model shown its own target as reference learns
    to copy it instead of reading the render.
    """

    def __init__(self, worlds: list[ReferenceWorld], frames: int = 3, ref_window: int = 1, max_shift: int = 6,
                 max_move: float = 0.3, max_turn: float = 10.0) -> None:
        if not worlds:
            raise ValueError("RealPairs needs at least one world")
        short = [w.name for w in worlds if w.num_frames < frames]
        if short:
            raise ValueError(f"real world(s) {short} have fewer than {frames} frames")
        self.worlds, self.frames, self.ref_window = list(worlds), int(frames), int(ref_window)
        self.max_shift, self.max_move, self.max_turn = int(max_shift), max_move, max_turn
        self.warp = condition_renderer()
        few = [w.name for w in worlds if w.meta.get("multiview") and w.num_frames < frames + min(NOVEL_VIEW_GAPS)]
        if few:
            raise ValueError(f"multi-view scene(s) {few} have too few frames for {frames}-frame novel-view clips")

    def novel_view_clip(self, world: ReferenceWorld, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """Reference frames k.. at the cameras of frames k + g, those frames the truth."""
        T, n = self.frames, world.num_frames
        gaps = [s * g for g in NOVEL_VIEW_GAPS for s in (-1, 1)
                if any(0 <= k + s * g and k + s * g + T <= n for k in range(n - T + 1))]
        g = int(gaps[int(rng.integers(len(gaps)))])
        starts = [k for k in range(n - T + 1) if 0 <= k + g and k + g + T <= n]
        k = int(starts[int(rng.integers(len(starts)))])
        idx = np.arange(k, k + T)
        view = self.warp.render(world, world.c2w[idx + g].copy(), idx)
        render, mask = condition_from_view(view)
        ref = window_frames(idx, self.ref_window, n)
        return _to_pm1(world.frames[idx + g]), render, mask, _to_pm1(world.frames[ref]), fill_from_view(view)

    def clip(self, world: ReferenceWorld, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        if world.meta.get("multiview"):
            return self.novel_view_clip(world, rng)
        T, n = self.frames, world.num_frames
        start = int(rng.integers(0, n - T + 1))
        idx = np.arange(start, start + T)
        view = double_reprojection_view(world, idx, rng, self.max_move, self.max_turn)
        render, mask = condition_from_view(view)
        # a shift of 2..max_shift frames either way that keeps the clip inside the video
        shifts = [d for d in range(-self.max_shift, self.max_shift + 1) if abs(d) >= 2 and 0 <= start + d <= n - T]
        shift = int(shifts[int(rng.integers(len(shifts)))]) if shifts else int(np.clip(start + 2, 0, n - T)) - start
        moved = np.arange(T) + start + shift
        ref = window_frames(moved, self.ref_window, n)
        return _to_pm1(world.frames[idx]), render, mask, _to_pm1(world.frames[ref]), fill_from_view(view)

    def sample(self, batch: int, rng: np.random.Generator) -> PairBatch:
        parts = [self.clip(self.worlds[int(rng.integers(len(self.worlds)))], rng) for _ in range(batch)]
        return PairBatch(*(torch.stack(x) for x in zip(*parts)))


def double_reprojection(world: ReferenceWorld, frames: np.ndarray, rng: np.random.Generator,
                        max_move: float = 0.3, max_turn: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Condition (render, mask) for frames idx [T] of a real world: each frame is warped with
    its depth to a random nearby camera and that warp is warped back (its own depth), so the
    holes are disocclusions of the frame's own geometry. The target is the frame itself."""
    return condition_from_view(double_reprojection_view(world, frames, rng, max_move, max_turn))


def double_reprojection_view(world: ReferenceWorld, frames: np.ndarray, rng: np.random.Generator,
                             max_move: float = 0.3, max_turn: float = 10.0) -> View:
    """The view behind double_reprojection, its holes filled in rgb (the warp's image)."""
    idx = np.asarray(frames)
    c2w = world.c2w[idx]
    away = np.stack([c @ random_offset(rng, world.scale, max_move, max_turn) for c in c2w])
    K = torch.from_numpy(world.K)
    there = forward_warp(torch.from_numpy(world.frames[idx]), torch.from_numpy(world.depth[idx]), K,
                         torch.from_numpy(c2w), torch.from_numpy(away), alpha=25.0, depth_unit=world.scale)
    back = forward_warp(there.rgb, torch.where(there.mask, there.depth, torch.zeros_like(there.depth)), K,
                        torch.from_numpy(away), torch.from_numpy(c2w), alpha=25.0, depth_unit=world.scale)
    return finish_splat(back, fill_rgb=True)
