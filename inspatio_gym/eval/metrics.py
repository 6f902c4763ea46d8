"""Image metrics on uint8 or [0, 1] float images."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "masked_psnr"]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (uint8 is rescaled)."""
    mse = float(np.mean((_unit(a) - _unit(b)) ** 2))
    return float("inf") if mse == 0 else -10.0 * np.log10(mse)


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels where mask [..., H, W] is True."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return float("nan")
    diff = (_unit(a) - _unit(b))[m]
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else -10.0 * np.log10(mse)
