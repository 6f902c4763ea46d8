"""Cracks: background seen through a magnified foreground surface between its splats.

When the camera comes closer to a surface than the reference was, neighbouring source
pixels land more than a pixel apart and the far surface behind shows through the gaps. A
covered pixel is a crack when nearer points sit on both sides of it (left and right, or
above and below); a silhouette has nearer points on one side only, so it is kept.
"""

from __future__ import annotations

import torch

__all__ = ["crack_mask"]


def crack_mask(depth: torch.Tensor, mask: torch.Tensor, ratio: float = 1.1) -> torch.Tensor:
    """bool [B, H, W]: covered pixels of depth [B, H, W] with nearer covered neighbours on
    opposite sides (by a factor `ratio`)."""
    far = torch.where(mask, depth, torch.full_like(depth, float("inf")))
    lim = depth / ratio

    def nearer(shifted: torch.Tensor) -> torch.Tensor:
        return shifted < lim

    pad = torch.nn.functional.pad(far.unsqueeze(1), (1, 1, 1, 1), value=float("inf"))[:, 0]
    left, right = pad[:, 1:-1, :-2], pad[:, 1:-1, 2:]
    up, down = pad[:, :-2, 1:-1], pad[:, 2:, 1:-1]
    return mask & ((nearer(left) & nearer(right)) | (nearer(up) & nearer(down)))
