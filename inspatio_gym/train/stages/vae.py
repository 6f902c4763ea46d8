"""Stage "vae": the tiny causal VAE learns to reconstruct procedural clips.

Loss (`pipeline.vae_loss`) on the unclamped reconstruction of short clips, so the causal
memory blocks see frame-to-frame motion. The export is the VAE's weights with latent
statistics fitted on fresh clips, ready for the generator stages.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ...io.atomic import atomic_path
from ...model.config import CONFIGS
from ...model.vae import TinyVAE
from ..config import VaeConfig
from ..data.procedural_clips import ProceduralClips
from ..data.seeds import FIXED_SAMPLES, batch_rng
from ..pipeline.vae_loss import vae_loss
from ..trainer.optim import adamw, optimizer_step

__all__ = ["VAEStage"]


class VAEStage:
    def __init__(self, cfg: VaeConfig, device: str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.vae_config = CONFIGS[cfg.model].vae
        self.data = ProceduralClips(size=cfg.size, frames=cfg.clip_frames)
        torch.manual_seed(cfg.seed)  # initial weights follow the run's seed, not the process's
        self.model = TinyVAE(self.vae_config)
        self.opt = adamw(self.model.parameters(), cfg.lr, cfg.betas, cfg.weight_decay)
        self._fixed = self.data.sample(4, batch_rng(cfg.seed, FIXED_SAMPLES))  # the same clips in every sample image

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def batch(self, rng: np.random.Generator) -> torch.Tensor:
        return self.data.sample(self.cfg.batch, rng).to(self.model.latent_mean.device)

    def step(self, batch: torch.Tensor, trained: torch.nn.Module) -> dict[str, float]:
        loss, scalars = vae_loss(trained(batch), batch, self.cfg.loss)
        optimizer_step(self.opt, loss, average=False)  # DDP averages the VAE's gradients
        return scalars

    @torch.no_grad()
    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        """Top row: the fixed clips' last frames; bottom: their reconstructions."""
        model.eval()
        x = self._fixed.to(model.latent_mean.device)
        r = model.decode(model.encode(x))
        top = torch.cat(list(x[:, -1]), dim=-1)
        bottom = torch.cat(list(r[:, -1]), dim=-1)
        return (torch.cat([top, bottom], dim=-2).cpu() + 1) / 2

    @torch.no_grad()
    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        """vae.safetensors: weights and fitted latent statistics (config in the metadata)."""
        model.eval()
        clips = self.data.sample(16, batch_rng(self.cfg.seed, FIXED_SAMPLES + 1)).to(model.latent_mean.device)
        model.fit_latent_stats(model.encode_raw(clips))
        r = model.decode(model.encode(clips))
        psnr = float(10 * torch.log10(4.0 / F.mse_loss(r, clips).clamp_min(1e-10)))
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        md = {"format": "inspatio_gym.vae", "vae_config": json.dumps(asdict(self.vae_config)),
              "psnr_db": f"{psnr:.3f}", **{k: json.dumps(v) for k, v in meta.items()}}
        path = out / "vae.safetensors"
        with atomic_path(path, ".tmp") as tmp:
            save_file(tensors, tmp, metadata=md)
        return path
