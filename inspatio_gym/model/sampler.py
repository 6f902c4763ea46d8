"""Few-step flow-matching sampling, with noise from per-session generators.

x_t = (1 - s) x0 + s eps; the model predicts v = eps - x0, so x0 = x_t - s v. After each
step x0 is re-noised to the next level with fresh noise; the last step's x0 is the output.
Each session draws its noise from its own torch.Generator seeded at reset, so a session's
frames do not depend on which other sessions share its batch.
"""

from __future__ import annotations

from typing import Callable

import torch

from .config import SamplerConfig

__all__ = ["SessionNoise", "sample_flow"]


class SessionNoise:
    """One torch.Generator per lane."""

    def __init__(self, lanes: int) -> None:
        self.gens = [torch.Generator().manual_seed(i) for i in range(lanes)]

    def seed(self, lanes: torch.Tensor, seeds: torch.Tensor) -> None:
        for lane, s in zip(lanes.tolist(), seeds.tolist()):
            self.gens[lane].manual_seed(int(s))

    def states(self, lanes: torch.Tensor) -> list[torch.Tensor]:
        """The lanes' generator states, to put back if the step that draws fails."""
        return [self.gens[lane].get_state() for lane in lanes.tolist()]

    def restore(self, lanes: torch.Tensor, states: list[torch.Tensor]) -> None:
        for lane, st in zip(lanes.tolist(), states):
            self.gens[lane].set_state(st)

    def draw(self, lanes: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal noise [len(lanes), *shape], lane by lane from its own generator."""
        return torch.stack([torch.randn(shape, generator=self.gens[lane]) for lane in lanes.tolist()])


def sample_flow(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: Callable[[], torch.Tensor],
    cfg: SamplerConfig,
) -> torch.Tensor:
    """x0 after cfg.steps steps; velocity(x_t, sigma [B]) -> v, noise() -> a fresh eps."""
    sigmas = cfg.sigmas()
    x = noise()
    x0 = x
    for i, s in enumerate(sigmas):
        sig = torch.full((x.shape[0],), s, dtype=x.dtype, device=x.device)
        x0 = x - s * velocity(x, sig)
        if i + 1 < len(sigmas):
            nxt = sigmas[i + 1]
            x = (1 - nxt) * x0 + nxt * noise()
    return x0
