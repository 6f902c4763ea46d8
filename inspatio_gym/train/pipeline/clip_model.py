"""The teachers' (and the critic's) view of a clip: bidirectional flow matching over all frames.

A clip model is the generator's own transformer (`CausalDiT`) run over a whole clip at once
by `forward_clip`: the T + 2w reference frames as clean context ([latent | 0 | 0] at noise
level 0) and the T target frames ([noisy latent | mask | render latent] at level sigma), each
frame at the temporal RoPE slot of its clip time, so a target and its time-aligned reference
share a slot. Every token attends to every frame. Flow matching: x_t = (1 - s) x0 + s eps,
the model predicts v = eps - x0, so x0 = x_t - s v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...model.config import GeneratorConfig
from ...model.dit import CausalDiT
from ..data.latents import LatentClips
from .dmd import shifted_sigma

__all__ = ["clip_slots", "clip_velocity", "clip_x0", "flow_matching_loss", "clip_ode", "new_clip_model"]


def clip_slots(frames: int, ref_window: int) -> int:
    """RoPE slots a clip model needs: one per clip time of the reference windows."""
    return frames + 2 * ref_window


def new_clip_model(cfg: GeneratorConfig, frames: int) -> CausalDiT:
    return CausalDiT(cfg, slots=clip_slots(frames, cfg.ref_window))


def clip_velocity(model: CausalDiT, lat: LatentClips, x_t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """v [B, T, C, h, w] for noisy targets x_t [B, T, C, h, w] at levels sigma [B]."""
    B, T = x_t.shape[:2]
    R = lat.reference.shape[1]
    w = (R - T) // 2
    flat = lambda t: t.flatten(0, 1)  # noqa: E731
    refs = model.frame_input(flat(lat.reference)).unflatten(0, (B, R))
    tgts = model.frame_input(flat(x_t), flat(lat.mask), flat(lat.render)).unflatten(0, (B, T))
    sig = torch.cat([sigma.new_zeros(B, R), sigma[:, None].expand(B, T)], dim=1)
    slots = torch.cat([torch.arange(R), torch.arange(w, w + T)]).to(x_t.device)
    return model.forward_clip(torch.cat([refs, tgts], dim=1), sig, slots)[:, R:]


def clip_x0(model: CausalDiT, lat: LatentClips, x_t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The model's clean estimate x0 = x_t - sigma v."""
    return x_t - sigma.view(-1, 1, 1, 1, 1) * clip_velocity(model, lat, x_t, sigma)


def flow_matching_loss(model: torch.nn.Module, lat: LatentClips, x0: torch.Tensor, shift: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE between predicted and true velocity at a shifted uniform level per clip."""
    B = x0.shape[0]
    u = torch.rand(B, generator=generator, device=x0.device)
    sigma = shifted_sigma(u, shift).clamp(1e-3, 1.0)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    x_t = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1, 1) * eps
    v = clip_velocity(model, lat, x_t, sigma)  # type: ignore[arg-type]
    loss = F.mse_loss(v, eps - x0)
    return loss, {"flow_mse": float(loss.detach()), "sigma_mean": float(sigma.mean())}


@torch.no_grad()
def clip_ode(model: CausalDiT, lat: LatentClips, noise: torch.Tensor, steps: int, shift: float,
             record: list[float] | None = None) -> tuple[torch.Tensor, dict[float, torch.Tensor]]:
    """Euler integration of the flow ODE from noise (sigma 1) to 0 over `steps` shifted
    levels, with the levels in `record` added to the grid; returns x0 and {level: x_level}."""
    raw = [1.0 - i / steps for i in range(steps)]
    grid = sorted({round(float(shifted_sigma(torch.tensor(r), shift)), 6) for r in raw} |
                  {round(float(r), 6) for r in (record or [])} | {0.0}, reverse=True)
    x = noise
    seen: dict[float, torch.Tensor] = {}
    for s, nxt in zip(grid, grid[1:]):
        if record is not None and any(abs(s - r) < 1e-6 for r in record):
            seen[s] = x
        sig = torch.full((x.shape[0],), s, device=x.device, dtype=x.dtype)
        x = x + (nxt - s) * clip_velocity(model, lat, x, sig)
    return x, {r: seen[min(seen, key=lambda k: abs(k - r))] for r in (record or [])}
