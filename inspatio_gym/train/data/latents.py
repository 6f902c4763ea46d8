"""What the generator stages train on: condition pairs, encoded by the trained VAE.

Pixels come from `pair_sources` (synthetic multi-view clips, real clips by double
reprojection); here they become the latents the generator sees at inference, encoded the
same way: targets and renders as streams (the VAE's causal memory runs along the clip, as it
runs along an episode), reference frames each on their own (as
`StarGenerator.encode_reference` encodes them), the coverage mask average-pooled to the
latent grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open

from ...model.checkpoint import read_metadata
from ...model.config import VAEConfig
from ...model.vae import TinyVAE
from .pairs import PairBatch

__all__ = ["LatentClips", "encode_pairs", "load_vae", "stack_clips"]


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
