"""Distribution matching distillation: the gradient that moves student samples toward a teacher.

DMD (and JDMD, the original's joint form) never differentiates through the teachers. For a
student sample x, noised to x_t at a random shifted level, each score model predicts the
clean sample; the gradient on x is the difference of the fake (student-distribution) and
real (teacher) predictions, normalised per sample by how far the real prediction is from x:

    g = (x̂_fake - x̂_real) / mean|x - x̂_real|

JDMD sums it over teachers with weights (synthetic control, real fidelity). The loss
0.5 * mean((x - sg(x - g))^2) has exactly g / numel(x) as its gradient with respect to x, so
an optimiser on the student follows -g.
"""

from __future__ import annotations

import torch

__all__ = ["dmd_gradient", "jdmd_gradient", "dmd_loss", "shifted_sigma"]


def dmd_gradient(x: torch.Tensor, x_real: torch.Tensor, x_fake: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x_fake - x_real) / mean|x - x_real|, the mean over every dimension but the first."""
    dims = tuple(range(1, x.dim()))
    norm = (x - x_real).abs().mean(dim=dims, keepdim=True).clamp_min(eps)
    return torch.nan_to_num((x_fake - x_real) / norm)


def jdmd_gradient(x: torch.Tensor, x_fake: torch.Tensor, teachers: dict[str, tuple[torch.Tensor, float]]
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """sum_i weight_i * dmd_gradient(x, x_real_i, x_fake) over teachers {name: (x_real, weight)};
    also the mean |g_i| of each term, for logging."""
    if not teachers:
        raise ValueError("JDMD needs at least one teacher")
    g = torch.zeros_like(x)
    mags = {}
    for name, (x_real, w) in teachers.items():
        gi = dmd_gradient(x, x_real, x_fake)
        mags[name] = float(gi.abs().mean())
        g = g + w * gi
    return g, mags


def dmd_loss(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """0.5 * mean((x - sg(x - g))^2): its gradient with respect to x is g / x.numel()."""
    return 0.5 * torch.mean((x - (x - g).detach()) ** 2)


def shifted_sigma(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The flow-matching noise level for a uniform u in [0, 1], shifted toward noise as the
    sampler's levels are: shift * u / (1 + (shift - 1) * u)."""
    return shift * u / (1 + (shift - 1) * u)
