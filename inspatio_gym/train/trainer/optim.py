"""One optimiser step, the same in every stage: zero_grad, backward, (average gradients over
ranks), (clip), step; and the EMA of the exported weights the loop keeps after it."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist

__all__ = ["adamw", "allreduce_grads", "ema_update", "optimizer_step"]


def adamw(params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float],
          weight_decay: float) -> torch.optim.AdamW:
    """The optimiser every stage uses."""
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)


def _params(opt: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
    return [p for group in opt.param_groups for p in group["params"]]


def allreduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Average gradients over ranks (what DDP does), for modules run several times per step."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    i = 0
    for g in grads:
        g.copy_(flat[i : i + g.numel()].view_as(g))
        i += g.numel()


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, *, average: bool, grad_clip: float = 0.0) -> float:
    """Backpropagate loss into opt's parameters and step. average: average the gradients over
    ranks by hand (stages whose modules run many passes per step, so DDP cannot); grad_clip > 0:
    clip the global gradient norm. Returns that norm before clipping (0 when not clipped)."""
    params = _params(opt)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if average:
        allreduce_grads(params)
    norm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip)) if grad_clip > 0 else 0.0
    opt.step()
    return norm


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; buffers copied."""
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)
