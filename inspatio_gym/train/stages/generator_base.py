"""What the generator stages (teacher, causal, distill) share: config checks, the frozen VAE,
their batches, and the grid image every stage's samples are drawn into."""

from __future__ import annotations

import os

import numpy as np
import torch

from ...model.config import CONFIGS, GeneratorConfig
from ...model.dit import CausalDiT
from ..config import GeneratorStageConfig
from ..data.latents import LatentClips, load_vae
from ..data.pair_sources import GeneratorData
from ..data.seeds import FIXED_SAMPLES
from ..data.training_set import LatentBatches
from ..pipeline.unroll import Unroll

__all__ = ["GeneratorStage"]


class GeneratorStage:
    """Config checks, the frozen VAE, the batches and a fixed batch for sample images."""

    samples_batch = 3

    def __init__(self, cfg: GeneratorStageConfig, device: str = "cpu") -> None:
        self.cfg = cfg
        self.gcfg: GeneratorConfig = CONFIGS[cfg.model]
        if not cfg.vae:
            raise ValueError(f"stage {cfg.stage!r} needs the vae stage's export (config key 'vae')")
        # the stage is built before the loop picks this rank's GPU: use torchrun's LOCAL_RANK too
        self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if device == "cuda" else device)
        self.vae = load_vae(cfg.vae, self.device)
        if self.vae.config != self.gcfg.vae:
            raise ValueError(f"the VAE in {cfg.vae!r} has config {self.vae.config}, model {cfg.model!r} needs "
                             f"{self.gcfg.vae}")
        if self.gcfg.dit.plucker:
            raise ValueError(f"model {cfg.model!r} is camera-conditioned (plucker=True); the training stages do "
                             "not feed Plücker rays yet")
        self.data = GeneratorData(cfg.size, cfg.clip_frames, self.gcfg.ref_window, cfg.real, cfg.real_fraction)
        self.latents = LatentBatches(self.data, self.vae, cfg.seed, cfg.batch, cfg.data_clips)

    def check_compatible(self, meta: dict[str, str], path: str, what: str) -> None:
        """A loaded teacher / initial model must be of this run's model config and clip length."""
        cfg = GeneratorConfig.from_json(meta["config"]) if "config" in meta else None
        if cfg != self.gcfg:
            raise ValueError(f"{what} {path!r} has model config {cfg}, this run trains {self.cfg.model!r}: {self.gcfg}")
        if "frames" in meta and int(meta["frames"]) != self.cfg.clip_frames:
            raise ValueError(f"{what} {path!r} was trained on {meta['frames']}-frame clips, clip_frames is "
                             f"{self.cfg.clip_frames}")

    def batch(self, rng: np.random.Generator) -> LatentClips:
        return self.latents(rng)

    def fixed(self) -> LatentClips:
        """The clips of every sample image."""
        return self.latents.fixed(self.samples_batch)

    @torch.no_grad()
    def student_samples(self, model: CausalDiT) -> torch.Tensor:
        """The causal student's own rollout of the fixed clips (fixed noise), as a grid."""
        model.eval()
        lat = self.fixed()
        sigmas = self.gcfg.sampler.sigmas()
        g = torch.Generator().manual_seed(FIXED_SAMPLES % 2**31)
        eps = torch.randn((lat.frames, len(sigmas), *lat.target[:, 0].shape), generator=g)
        x0 = Unroll(model, self.gcfg).generate(lat.reference, lat.render, lat.mask,
                                               lambda t, k: eps[t, k].to(lat.target.device), sigmas)
        return self.grid(lat, x0)

    @torch.no_grad()
    def grid(self, lat: LatentClips, x0: torch.Tensor) -> torch.Tensor:
        """Columns: clips; rows: aligned reference, condition, generated, truth (last frame)."""
        gen = self.vae.decode(x0)[:, -1].cpu()
        px = lat.pixels
        T = px.target.shape[1]
        w = (px.reference.shape[1] - T) // 2
        rows = [px.reference[:, w + T - 1], px.render[:, -1], gen, px.target[:, -1]]
        img = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)
        return (img + 1) / 2
