"""The VAE's reconstruction loss: L1 + MSE + an image-gradient term.

The gradient term (finite differences) keeps edges sharp, which the pixel losses alone blur.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["vae_loss"]


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
