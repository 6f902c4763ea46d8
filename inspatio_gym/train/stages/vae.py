"""Stage "vae": the tiny causal VAE learns to reconstruct procedural and real clips.

Loss (`pipeline.vae_loss`) on the unclamped reconstruction of short clips, so the causal
memory blocks see frame-to-frame motion; real_fraction of each batch are real clips
(`data.real_clips`: random crops of real videos and captures). The export is the VAE's
weights with latent statistics fitted on fresh clips of the same mix, ready for the
generator stages; its metadata holds the reconstruction PSNR on each kind.
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
from ..data.real_clips import RealFrameClips
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
        self.real = RealFrameClips(cfg.real, cfg.size, cfg.clip_frames) if cfg.real_fraction > 0 else None
        torch.manual_seed(cfg.seed)  # initial weights follow the run's seed, not the process's
        self.model = TinyVAE(self.vae_config)
        self.opt = adamw(self.model.parameters(), cfg.lr, cfg.betas, cfg.weight_decay)
        self._fixed = self.clips(4, batch_rng(cfg.seed, FIXED_SAMPLES))  # the same clips in every sample image

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def clips(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        """n clips: round(n x real_fraction) real ones last."""
        n_real = int(round(n * self.cfg.real_fraction)) if self.real is not None else 0
        parts = [self.data.sample(n - n_real, rng)] if n - n_real else []
        if n_real:
            parts.append(self.real.sample(n_real, rng))
        return torch.cat(parts)

    def batch(self, rng: np.random.Generator) -> torch.Tensor:
        return self.clips(self.cfg.batch, rng).to(self.model.latent_mean.device)

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
        rng = batch_rng(self.cfg.seed, FIXED_SAMPLES + 1)
        clips = self.clips(16, rng).to(model.latent_mean.device)
        model.fit_latent_stats(model.encode_raw(clips))

        def psnr(x: torch.Tensor) -> float:
            return float(10 * torch.log10(4.0 / F.mse_loss(model.decode(model.encode(x)), x).clamp_min(1e-10)))

        scores = {"psnr_db": f"{psnr(self.data.sample(8, rng).to(clips.device)):.3f}"}
        if self.real is not None:
            scores["psnr_real_db"] = f"{psnr(self.real.sample(8, rng).to(clips.device)):.3f}"
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        md = {"format": "inspatio_gym.vae", "vae_config": json.dumps(asdict(self.vae_config)),
              **scores, **{k: json.dumps(v) for k, v in meta.items()}}
        path = out / "vae.safetensors"
        with atomic_path(path, ".tmp") as tmp:
            save_file(tensors, tmp, metadata=md)
        return path
