"""Stage "vae": the tiny causal VAE learns to reconstruct procedural and real clips.

Loss (`pipeline.vae_loss`) on the unclamped reconstruction of short clips, so the causal
memory blocks see frame-to-frame motion; real_fraction of each batch are real clips
(`data.real_clips`: random crops of real videos and captures). The export is the VAE's
weights with latent statistics fitted on fresh clips of the same mix, ready for the
generator stages; its metadata holds the reconstruction PSNR on each kind.

Aligned (config `align`, a VAE export): this VAE adopts that VAE's latent space instead of
making its own. Its encoder regresses onto that VAE's latents of the same clip resized to
that VAE's resolution, its decoder learns to reconstruct this resolution from those latents,
and the latent statistics are that VAE's. A generator trained on that VAE's latents then runs
at this resolution unchanged: how the 128 px config (an 8x VAE, the same 16x16 latent grid)
reuses the 64 px generator's DiT without training it again.
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
from ..data.latents import load_vae
from ..data.procedural_clips import ProceduralClips
from ..data.real_clips import RealFrameClips
from ..data.seeds import FIXED_SAMPLES, batch_rng
from ..pipeline.vae_loss import vae_loss
from ..trainer.optim import adamw, optimizer_step

__all__ = ["AlignedVAE", "VAEStage"]


class AlignedVAE(torch.nn.Module):
    """The VAE under training beside a frozen one whose latent space it adopts."""

    def __init__(self, vae: TinyVAE, target: TinyVAE) -> None:
        super().__init__()
        self.vae = vae
        # Not a submodule: its weights stay out of the optimiser, the EMA, DDP and the checkpoints.
        object.__setattr__(self, "target", target)
        with torch.no_grad():
            vae.latent_mean.copy_(target.latent_mean)
            vae.latent_std.copy_(target.latent_std)
        self.factor = target.config.spatial_compression / vae.config.spatial_compression

    @torch.no_grad()
    def target_latents(self, video: torch.Tensor) -> torch.Tensor:
        """The frozen VAE's (standardised) latents of video resized to its resolution."""
        n, t = video.shape[:2]
        small = F.interpolate(video.flatten(0, 1), scale_factor=self.factor, mode="area")
        return self.target.encode(small.unflatten(0, (n, t)))

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction from the frozen VAE's latents, this VAE's latents, those latents)."""
        z = self.target_latents(video)
        return self.vae.decode(z, clamp=False), self.vae.encode(video), z


def _aligned_target(path: str, config) -> TinyVAE:
    """The export named by `align`, checked to share this VAE's latent channels, time and grid."""
    target = load_vae(path)
    tc, sc = target.config, config
    if (tc.latent_channels, tc.temporal_compression) != (sc.latent_channels, sc.temporal_compression):
        raise ValueError(f"align {path!r}: its VAE has {tc.latent_channels} latent channels and temporal compression "
                         f"{tc.temporal_compression}, this one {sc.latent_channels} and {sc.temporal_compression}")
    if tc.spatial_compression > sc.spatial_compression:
        raise ValueError(f"align {path!r}: its VAE compresses {tc.spatial_compression}x, more than this one's "
                         f"{sc.spatial_compression}x; align a VAE to one of lower or equal compression")
    return target


class VAEStage:
    def __init__(self, cfg: VaeConfig, device: str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.vae_config = CONFIGS[cfg.model].vae
        self.data = ProceduralClips(size=cfg.size, frames=cfg.clip_frames)
        self.real = RealFrameClips(cfg.real, cfg.size, cfg.clip_frames) if cfg.real_fraction > 0 else None
        torch.manual_seed(cfg.seed)  # initial weights follow the run's seed, not the process's
        self.model: torch.nn.Module = TinyVAE(self.vae_config)
        if cfg.align:
            target = _aligned_target(cfg.align, self.vae_config).to(self.device)
            self.model = AlignedVAE(self.model, target)
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
        return self.clips(self.cfg.batch, rng).to(_vae(self.model).latent_mean.device)

    def step(self, batch: torch.Tensor, trained: torch.nn.Module) -> dict[str, float]:
        out = trained(batch)
        if isinstance(out, tuple):  # aligned: reconstruct from the frozen VAE's latents, encode onto them
            recon, own, target = out
            loss, scalars = vae_loss(recon, batch, self.cfg.loss)
            latent = F.mse_loss(own, target)
            loss = loss + self.cfg.align_weight * latent
            scalars["latent_mse"] = float(latent.detach())
            scalars["loss"] = float(loss.detach())
        else:
            loss, scalars = vae_loss(out, batch, self.cfg.loss)
        optimizer_step(self.opt, loss, average=False)  # DDP averages the VAE's gradients
        return scalars

    @torch.no_grad()
    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        """Top row: the fixed clips' last frames; bottom: their reconstructions."""
        model.eval()
        vae = _vae(model)
        x = self._fixed.to(vae.latent_mean.device)
        r = vae.decode(vae.encode(x))
        top = torch.cat(list(x[:, -1]), dim=-1)
        bottom = torch.cat(list(r[:, -1]), dim=-1)
        return (torch.cat([top, bottom], dim=-2).cpu() + 1) / 2

    @torch.no_grad()
    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        """vae.safetensors: weights and fitted latent statistics (config in the metadata)."""
        model.eval()
        aligned = model if isinstance(model, AlignedVAE) else None
        model = _vae(model)
        rng = batch_rng(self.cfg.seed, FIXED_SAMPLES + 1)
        clips = self.clips(16, rng).to(model.latent_mean.device)
        if aligned is None:  # an aligned VAE keeps the statistics of the latent space it adopted
            model.fit_latent_stats(model.encode_raw(clips))

        def psnr(x: torch.Tensor, z: torch.Tensor | None = None) -> float:
            z = model.encode(x) if z is None else z
            return float(10 * torch.log10(4.0 / F.mse_loss(model.decode(z), x).clamp_min(1e-10)))

        procedural = self.data.sample(8, rng).to(clips.device)
        scores = {"psnr_db": f"{psnr(procedural):.3f}"}
        real = self.real.sample(8, rng).to(clips.device) if self.real is not None else None
        if real is not None:
            scores["psnr_real_db"] = f"{psnr(real):.3f}"
        if aligned is not None:  # decoded from the adopted VAE's latents, as a generator trained on it makes them
            aligned.target.to(clips.device)
            scores["align"] = self.cfg.align
            scores["psnr_aligned_db"] = f"{psnr(procedural, aligned.target_latents(procedural)):.3f}"
            if real is not None:
                scores["psnr_real_aligned_db"] = f"{psnr(real, aligned.target_latents(real)):.3f}"
            scores["latent_mse"] = f"{float(F.mse_loss(model.encode(clips), aligned.target_latents(clips))):.4f}"
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        md = {"format": "inspatio_gym.vae", "vae_config": json.dumps(asdict(self.vae_config)),
              **scores, **{k: json.dumps(v) for k, v in meta.items()}}
        path = out / "vae.safetensors"
        with atomic_path(path, ".tmp") as tmp:
            save_file(tensors, tmp, metadata=md)
        return path


def _vae(model: torch.nn.Module) -> TinyVAE:
    return model.vae if isinstance(model, AlignedVAE) else model
