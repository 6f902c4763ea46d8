"""Stage "vae": the tiny causal VAE learns to reconstruct procedural clips.

Loss: L1 + MSE + an image-gradient term (finite differences; keeps edges sharp, which the
pixel losses alone blur) on the unclamped reconstruction of short clips, so the causal
memory blocks see frame-to-frame motion. The export is the VAE's weights with latent
statistics fitted on fresh clips, ready for the generator stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ..io.atomic import atomic_path
from ..model.config import CONFIGS
from ..model.vae import TinyVAE
from .config import RunConfig
from .data import FIXED_SAMPLES, ProceduralClips, batch_rng

__all__ = ["VAEStage", "vae_loss"]


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def vae_loss(recon: torch.Tensor, target: torch.Tensor, weights: dict[str, float]) -> tuple[torch.Tensor, dict]:
    """Weighted L1 + MSE + gradient-L1 of video tensors in [-1, 1]."""
    terms = {"l1": (recon - target).abs().mean(), "mse": F.mse_loss(recon, target)}
    gy, gx = _grad(recon)
    ty, tx = _grad(target)
    terms["grad"] = 0.5 * ((gy - ty).abs().mean() + (gx - tx).abs().mean())
    bad = sorted(set(weights) - set(terms))
    if bad:
        raise ValueError(f"unknown VAE loss term(s) {bad}; known: {sorted(terms)}")
    total = sum(weights.get(k, 0.0) * v for k, v in terms.items())
    scalars = {k: float(v.detach()) for k, v in terms.items()}
    with torch.no_grad():
        scalars["psnr"] = float(10 * torch.log10(4.0 / F.mse_loss(recon.clamp(-1, 1), target).clamp_min(1e-10)))
    scalars["loss"] = float(total.detach())
    return total, scalars


class VAEStage:
    def __init__(self, cfg: RunConfig, device: str = "cpu") -> None:
        if cfg.model not in CONFIGS:
            raise ValueError(f"unknown model config {cfg.model!r}; known: {sorted(CONFIGS)}")
        self.cfg = cfg
        self.device = torch.device(device)
        self.vae_config = CONFIGS[cfg.model].vae
        s = self.vae_config.spatial_compression
        if cfg.size % s:
            raise ValueError(f"size {cfg.size} must be a multiple of the VAE's compression {s}")
        self.data = ProceduralClips(size=cfg.size, frames=cfg.clip_frames)
        torch.manual_seed(cfg.seed)  # initial weights follow the run's seed, not the process's
        self.model = TinyVAE(self.vae_config)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self._fixed = self.data.sample(4, batch_rng(cfg.seed, FIXED_SAMPLES))  # the same clips in every sample image

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def batch(self, rng: np.random.Generator) -> torch.Tensor:
        return self.data.sample(self.cfg.batch, rng).to(self.model.latent_mean.device)

    def step(self, batch: torch.Tensor, trained: torch.nn.Module) -> dict[str, float]:
        loss, scalars = vae_loss(trained(batch), batch, self.cfg.loss)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
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
        import json
        from dataclasses import asdict

        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        md = {"format": "inspatio_gym.vae", "vae_config": json.dumps(asdict(self.vae_config)),
              "psnr_db": f"{psnr:.3f}", **{k: json.dumps(v) for k, v in meta.items()}}
        path = out / "vae.safetensors"
        with atomic_path(path, ".tmp") as tmp:
            save_file(tensors, tmp, metadata=md)
        return path
