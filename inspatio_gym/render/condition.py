"""The STAR generator's spatial condition: the warp render, its coverage mask and its
filled image as tensors.

The STAR backend at inference and the training pairs both condition through these
functions, so the generator is trained on exactly what it sees when it runs.
"""

from __future__ import annotations

import torch

from ..geometry.view import View
from .warp import WarpRenderer

__all__ = ["condition_from_view", "condition_renderer", "fill_from_view"]


def condition_from_view(view: View, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Render [B, 3, H, W] in [-1, 1] with holes at -1, and the coverage mask [B, 1, H, W] (0/1)."""
    render = torch.from_numpy(view.render).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    mask = torch.from_numpy(view.mask).to(device)[:, None].float()
    return torch.where(mask > 0, render, torch.full_like(render, -1.0)), mask


def fill_from_view(view: View, device: torch.device | str = "cpu") -> torch.Tensor:
    """The warp's filled image [B, 3, H, W] in [-1, 1]: the render where covered, its
    push-pull fill in the holes (the refiner's starting point: the warp baseline itself)."""
    return torch.from_numpy(view.rgb).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def condition_renderer() -> WarpRenderer:
    """The render STAR conditions on: the time-aligned frame fused with the warp backend's
    neighbour frames (they fill most disocclusions), the remaining holes filled by push-pull
    in the view's rgb (the render and mask leave them empty): the warp backend's own view."""
    return WarpRenderer()
