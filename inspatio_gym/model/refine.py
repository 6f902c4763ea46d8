"""Pixel-precise output: the world model's frame joined to the warp at full resolution.

The DiT and the VAE work on a 4x (or 8x) latent grid, so a decoded frame cannot keep the
render's pixels exactly or meet a hole's border without a seam, and its holes showed the
latent grid as a mosaic. This stage runs at pixel resolution, as inpainting decoders are
conditioned on the masked image: it sees the warp's filled image (the render in covered
pixels, push-pull in the holes), the coverage mask and the generator's decoded frame, and
adds a correction to the filled image in the holes only. Covered pixels are the render,
exactly. The last convolution starts at zero, so an untrained refiner *is* the warp: the
generator can only improve on the baseline it starts from.

Layout (c = channels, h = c // 2 at full resolution, where every channel costs 4x): a
small U-Net over [fill | mask | generated] (7 channels)::

    e0 = conv3x3(7 -> h), ReLU                                              H x W
    e1 = conv3x3/2(h -> c), ReLU, conv3x3(c -> c), ReLU                     H/2
    e2 = conv3x3/2(c -> 2c), ReLU, conv3x3 dil 2, ReLU, conv3x3 dil 4, ReLU    H/4
    d1 = conv3x3([up(e2) | e1] -> c), ReLU                                  H/2
    d0 = conv3x3([up(d1) | e0] -> h), ReLU, conv3x3(h -> 3) (zero init)     H x W
    out = where(mask, render, clamp(fill + d0, -1, 1))

With c = 16 that is ~53 MFLOP per 64x64 frame (a quarter of the generator's denoising).

Frame by frame (no memory): the generator's frame already carries the cache's context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Refiner", "refiner_flops"]


def _conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation)


class Refiner(nn.Module):
    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        c = int(channels)
        if c < 2:
            raise ValueError(f"refiner channels must be >= 2, got {channels!r}")
        h = c // 2
        self.channels = c
        self.e0 = nn.ModuleList([_conv(7, h)])
        self.e1 = nn.ModuleList([_conv(h, c, stride=2), _conv(c, c)])
        self.e2 = nn.ModuleList([_conv(c, 2 * c, stride=2), _conv(2 * c, 2 * c, dilation=2),
                                 _conv(2 * c, 2 * c, dilation=4)])
        self.d1 = _conv(3 * c, c)
        self.d0 = nn.ModuleList([_conv(c + h, h), _conv(h, 3)])
        nn.init.zeros_(self.d0[1].weight)
        nn.init.zeros_(self.d0[1].bias)

    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = F.relu(layer(x))
        return x

    def correction(self, fill: torch.Tensor, mask: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
        """The change to the filled image [B, 3, H, W] (before masking), H and W divisible by 4."""
        e0 = self._run(self.e0, torch.cat([fill, mask * 2 - 1, generated], 1))
        e1 = self._run(self.e1, e0)
        e2 = self._run(self.e2, e1)
        d1 = F.relu(self.d1(torch.cat([F.interpolate(e2, scale_factor=2.0, mode="nearest"), e1], 1)))
        d0 = F.relu(self.d0[0](torch.cat([F.interpolate(d1, scale_factor=2.0, mode="nearest"), e0], 1)))
        return self.d0[1](d0)

    def forward(self, render: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor,
                generated: torch.Tensor) -> torch.Tensor:
        """The observation [B, 3, H, W] in [-1, 1]: the render where mask [B, 1, H, W] is 1,
        the corrected fill in the holes. render and fill agree on covered pixels."""
        out = (fill + self.correction(fill, mask, generated)).clamp(-1, 1)
        return torch.where(mask > 0.5, render, out)


def refiner_flops(channels: int, height: int, width: int) -> int:
    """Multiply-adds x 2 of one frame."""
    c, h, hw = channels, channels // 2, height * width
    macs = (hw * 9 * 7 * h + hw // 4 * 9 * (h * c + c * c) + hw // 16 * 9 * (c * 2 * c + 2 * 4 * c * c)
            + hw // 4 * 9 * 3 * c * c + hw * 9 * ((c + h) * h + h * 3))
    return 2 * macs
