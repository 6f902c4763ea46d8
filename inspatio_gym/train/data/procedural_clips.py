"""The vae stage's data: clips rendered on the fly from procedural worlds (exact, infinite,
seeded by the caller's generator, worlds from TRAIN_SEEDS only)."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch

from ...geometry.camera import intrinsics_from_fov, make_pose, rot_x, rot_y
from ...scenes import make_scene
from .seeds import TRAIN_SEEDS

__all__ = ["ProceduralClips"]


class ProceduralClips:
    """Short clips [B, T, 3, H, W] in [-1, 1] along random smooth camera moves in random worlds.

    Each clip: a world from TRAIN_SEEDS (room or street), a start pose near its source path,
    then T frames moving by a random per-frame translation (up to 5 cm) and yaw/pitch (up to
    2 deg) while scene time advances 1/fps per frame (objects move).
    """

    def __init__(self, size: int = 64, frames: int = 3, fov: float = 60.0, fps: float = 12.0, cache: int = 64,
                 street_fraction: float = 0.3) -> None:
        self.size, self.frames, self.fps = int(size), int(frames), float(fps)
        self.K = torch.from_numpy(intrinsics_from_fov(self.size, self.size, fov))
        self.street_fraction = street_fraction
        self._scenes: OrderedDict[tuple[int, str], object] = OrderedDict()
        self._cache = cache

    def scene(self, seed: int, kind: str):
        key = (seed, kind)
        if key not in self._scenes:
            self._scenes[key] = make_scene(seed, kind)
            while len(self._scenes) > self._cache:
                self._scenes.popitem(last=False)
        self._scenes.move_to_end(key)
        return self._scenes[key]

    def poses(self, rng: np.random.Generator, scene) -> np.ndarray:
        """[T, 4, 4] c2w of one clip."""
        kind = ("pan", "dolly", "orbit")[int(rng.integers(3))]
        path = scene.source_path(kind, 16).numpy()
        start = path[int(rng.integers(16))] @ make_pose(
            rot_y(math.radians(rng.uniform(-20, 20))) @ rot_x(math.radians(rng.uniform(-10, 10))),
            rng.uniform([-0.4, -0.2, -0.3], [0.4, 0.2, 0.6]))
        step = make_pose(rot_y(math.radians(rng.uniform(-2, 2))) @ rot_x(math.radians(rng.uniform(-1, 1))),
                         rng.uniform(-0.05, 0.05, 3))
        out = [start]
        for _ in range(self.frames - 1):
            out.append(out[-1] @ step)
        return np.stack(out)

    def sample(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        clips = []
        for _ in range(batch):
            seed = int(rng.integers(TRAIN_SEEDS.start, TRAIN_SEEDS.stop))
            kind = "street" if rng.random() < self.street_fraction else "room"
            scene = self.scene(seed, kind)
            c2w = torch.from_numpy(self.poses(rng, scene))
            t = float(rng.uniform(0, 8)) + torch.arange(self.frames, dtype=torch.float32) / self.fps
            rgb, _ = scene.render(c2w, self.K, self.size, self.size, t)
            clips.append(rgb.permute(0, 3, 1, 2) * 2 - 1)
        return torch.stack(clips)
