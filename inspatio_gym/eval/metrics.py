"""Image metrics on uint8 or [0, 1] float images."""

from __future__ import annotations

import numpy as np

__all__ = ["psnr", "masked_psnr", "ssim"]


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


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5, mask: np.ndarray | None = None) -> float:
    """Structural similarity (Wang et al. 2004; Gaussian window sigma 1.5, K1 0.01, K2 0.03)
    of images [H, W, C] in [0, 1] (uint8 is rescaled), averaged over channels and over the
    pixels of mask [H, W] if given."""
    from scipy.ndimage import gaussian_filter

    x, y = _unit(a).astype(np.float64), _unit(b).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim needs equal shapes, got {x.shape} and {y.shape}")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = 0.01**2, 0.03**2
    maps = []
    for c in range(x.shape[-1]):
        f = lambda z: gaussian_filter(z, sigma, mode="reflect", truncate=3.5)  # noqa: E731
        xc, yc = x[..., c], y[..., c]
        mx, my = f(xc), f(yc)
        vx, vy, cxy = f(xc * xc) - mx * mx, f(yc * yc) - my * my, f(xc * yc) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    m = np.mean(maps, axis=0)
    if mask is not None:
        sel = np.asarray(mask, dtype=bool)
        return float(m[sel].mean()) if sel.any() else float("nan")
    return float(m.mean())
