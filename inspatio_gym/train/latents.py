"""What the generator stages train on: condition pairs, encoded by the trained VAE.

Pixels come from `pairs` (synthetic multi-view clips, real clips by double reprojection);
here they become the latents the generator sees at inference, encoded the same way:
targets and renders as streams (the VAE's causal memory runs along the clip, as it runs
along an episode), reference frames each on their own (as `StarGenerator.encode_reference`
encodes them), the coverage mask average-pooled to the latent grid.
"""

from __future__ import annotations

import glob
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

from ..model.checkpoint import read_metadata
from ..model.config import VAEConfig
from ..model.vae import TinyVAE
from ..world.reference import ReferenceWorld
from ..world.sources import load_world, seven_scenes_world
from .pairs import PairBatch, RealPairs, SyntheticPairs

__all__ = ["LatentClips", "GeneratorData", "encode_pairs", "load_vae", "load_real_worlds", "stack_clips"]


def stack_clips(items: list["LatentClips"]) -> "LatentClips":
    """One batch from single clips (no pixels)."""
    return LatentClips(*(torch.cat([getattr(c, k) for c in items]) for k in ("target", "render", "mask", "reference")),
                       None)


@dataclass
class LatentClips:
    target: torch.Tensor  # [B, T, C, h, w] standardised latents of the true frames
    render: torch.Tensor  # [B, T, C, h, w] latents of the warped condition
    mask: torch.Tensor  # [B, T, 1, h, w] coverage, average-pooled
    reference: torch.Tensor  # [B, T + 2w, C, h, w] reference frames, each encoded alone
    pixels: PairBatch | None  # None in a cached training set (latents only)

    @property
    def frames(self) -> int:
        return int(self.target.shape[1])


def load_vae(path: str | Path, device: torch.device | str = "cpu") -> TinyVAE:
    """The frozen VAE exported by the vae stage (safetensors, config in the metadata)."""
    meta = read_metadata(path, generator=False)
    if meta.get("format") != "inspatio_gym.vae" or "vae_config" not in meta:
        raise ValueError(f"{str(path)!r} is not a VAE exported by the vae stage (format {meta.get('format')!r})")
    d = json.loads(meta["vae_config"])
    cfg = VAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    vae = TinyVAE(cfg)
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    vae.load_state_dict(state)
    return vae.eval().requires_grad_(False).to(device)


@torch.no_grad()
def encode_pairs(vae: TinyVAE, pairs: PairBatch, device: torch.device | str = "cpu") -> LatentClips:
    dev = torch.device(device)
    B, R = pairs.reference.shape[:2]
    target = vae.encode(pairs.target.to(dev))
    render = vae.encode(pairs.render.to(dev))
    reference = vae.encode(pairs.reference.to(dev).flatten(0, 1).unsqueeze(1))[:, 0].unflatten(0, (B, R))
    h, w = target.shape[-2:]
    mask = F.adaptive_avg_pool2d(pairs.mask.to(dev).flatten(0, 1), (h, w)).unflatten(0, pairs.mask.shape[:2])
    return LatentClips(target, render, mask, reference, pairs)


def load_real_worlds(sources: list[str], size: int, progress: bool = False) -> list[ReferenceWorld]:
    """Worlds from real videos (preprocessed: SfM + depth, cached) or 7-Scenes folders.

    Each entry may be a glob; entries that match nothing are an error, so a config never
    trains silently without the data it names."""
    worlds = []
    for pattern in sources:
        paths = sorted(glob.glob(str(pattern))) or ([pattern] if Path(pattern).exists() else [])
        if not paths:
            raise FileNotFoundError(f"real training source {pattern!r} matches no file or folder")
        for p in map(Path, paths):
            if p.is_dir() and (p / "frames").is_dir():
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
