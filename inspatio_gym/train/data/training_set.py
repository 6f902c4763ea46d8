"""A generator stage's batches: fresh clips every step, or draws from a fixed training set.

With data_clips > 0, clip i of the set is a function of (seed, i) alone and is built (rendered
and encoded) on first use, so a resumed or distributed run sees the same clips whatever was
built before. The fixed sample batch is the same in every sample image of a run.
"""

from __future__ import annotations

import numpy as np
import torch

from ...model.vae import TinyVAE
from .latents import LatentClips, encode_pairs, stack_clips
from .pair_sources import GeneratorData
from .seeds import DATA_SET, FIXED_SAMPLES, batch_rng

__all__ = ["LatentBatches"]


class LatentBatches:
    def __init__(self, data: GeneratorData, vae: TinyVAE, seed: int, batch: int, data_clips: int) -> None:
        self.data, self.vae = data, vae
        self.seed, self.batch, self.data_clips = seed, batch, data_clips
        self._clips: dict[int, LatentClips] = {}
        self._fixed: LatentClips | None = None

    @property
    def device(self) -> torch.device:
        return self.vae.latent_mean.device

    def __call__(self, rng: np.random.Generator) -> LatentClips:
        """The batch of the step rng belongs to."""
        if not self.data_clips:
            return encode_pairs(self.vae, self.data.sample(self.batch, rng), self.device)
        idx = rng.integers(self.data_clips, size=self.batch)
        return stack_clips([self.clip(int(i)) for i in idx])

    def clip(self, i: int) -> LatentClips:
        """Clip i of the fixed training set (latents only)."""
        if i not in self._clips:
            lat = encode_pairs(self.vae, self.data.sample_one(batch_rng(self.seed, DATA_SET + i)), self.device)
            lat.pixels = None
            self._clips[i] = lat
        return self._clips[i]

    def fixed(self, n: int) -> LatentClips:
        """The run's n sample clips (with pixels), the same at every sample step."""
        if self._fixed is None:
            pairs = self.data.sample(n, batch_rng(self.seed, FIXED_SAMPLES))
            self._fixed = encode_pairs(self.vae, pairs, self.device)
        return self._fixed
