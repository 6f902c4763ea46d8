"""Where the generator stages' pairs come from: synthetic worlds, real videos, or a mix.

Real sources are videos (preprocessed once: SfM + depth, cached) and 7-Scenes folders
(measured depth and poses); a config's real_fraction sets each batch's share of real clips.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...world.reference import ReferenceWorld
from ...world.sources import load_world, seven_scenes_world
from ...world.sources.multiview import is_multiview_folder, multiview_world
from .pairs import PairBatch, RealPairs, SyntheticPairs
from .real_clips import real_source_paths

__all__ = ["GeneratorData", "load_real_worlds"]


def load_real_worlds(sources: list[str], size: int, progress: bool = False) -> list[ReferenceWorld]:
    """Worlds from real videos (preprocessed: SfM + depth, cached), 7-Scenes folders or
    multi-view scene folders (world.sources.multiview).

    Each entry may be a glob; entries that match nothing are an error, so a config never
    trains silently without the data it names. A glob skips the held-out scenes
    (seeds.HELD_OUT_SCENES); naming one explicitly is an error."""
    worlds = []
    for p in real_source_paths(sources):
        if is_multiview_folder(p):
            worlds.append(multiview_world(p, size, size))
        elif p.is_dir() and (p / "frames").is_dir():
            worlds.append(seven_scenes_world(p, size, size))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # static clips fall back to a depth prior, by design
                worlds.append(load_world(p, width=size, height=size, max_frames=96, progress=progress))
    return worlds


class GeneratorData:
    """Synthetic pairs, real pairs or a mix (real_fraction of each batch from real clips)."""

    def __init__(self, size: int, frames: int, ref_window: int, real_sources: list[str] | None,
                 real_fraction: float, world_pool: int | None = 512) -> None:
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction!r}")
        self.real_fraction = real_fraction
        self.synthetic = (SyntheticPairs(size=size, frames=frames, world_frames=max(12, frames + 2 * ref_window),
                                         ref_window=ref_window, pool=world_pool) if real_fraction < 1 else None)
        self.real = None
        if real_fraction > 0:
            if not real_sources:
                raise ValueError("real_fraction > 0 needs real sources (config key 'real')")
            self.real = RealPairs(load_real_worlds(real_sources, size), frames=frames, ref_window=ref_window)

    def sample_one(self, rng: np.random.Generator) -> PairBatch:
        """One clip, real with probability real_fraction."""
        if self.real is not None and (self.synthetic is None or rng.random() < self.real_fraction):
            return self.real.sample(1, rng)
        assert self.synthetic is not None
        return self.synthetic.sample(1, rng)

    def sample(self, batch: int, rng: np.random.Generator) -> PairBatch:
        n_real = int(round(batch * self.real_fraction))
        parts = []
        if batch - n_real:
            assert self.synthetic is not None
            parts.append(self.synthetic.sample(batch - n_real, rng))
        if n_real:
            assert self.real is not None
            parts.append(self.real.sample(n_real, rng))
        if len(parts) == 1:
            return parts[0]
        return PairBatch(*(torch.cat(x) for x in zip(*(vars(p).values() for p in parts))))
