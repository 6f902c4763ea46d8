"""Image metrics on uint8 or [0, 1] float images.

Besides full-frame and masked PSNR/SSIM: the seam band around the warp's holes (where a
generator must join its fill to the reference pixels; a bad join shows there first) and a
grid blockiness that catches the mosaic a 4x latent grid leaves when the decoder fails.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grid_blockiness", "masked_psnr", "psnr", "seam_band", "ssim"]


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


def seam_band(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within `width` px (Chebyshev distance) of a hole border, on both sides: covered
    pixels next to a hole and hole pixels next to covered ones.

    mask [..., H, W] bool (coverage or holes: the band is the same for either, it is the set
    of pixels whose (2*width+1)^2 neighbourhood holds both classes). The image border is no
    seam. Why: a generator that keeps the render's pixels and fills the holes can be good in
    both and still show a visible seam where they meet; PSNR in this band measures the join.
    """
    from scipy.ndimage import maximum_filter

    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    m = np.asarray(mask, dtype=bool)
    if m.ndim < 2:
        raise ValueError(f"mask must be [..., H, W], got shape {m.shape}")
    size = (1,) * (m.ndim - 2) + (2 * width + 1, 2 * width + 1)
    near_true = maximum_filter(m, size=size, mode="constant", cval=False)
    near_false = maximum_filter(~m, size=size, mode="constant", cval=False)
    return near_true & near_false


def grid_blockiness(img: np.ndarray, mask: np.ndarray | None = None, period: int = 4, eps: float = 1e-3) -> float:
    """Mean absolute gradient across the lines of a `period`-px grid over the mean across all
    other neighbouring pixel pairs (horizontal and vertical pairs together), counted only for
    pairs whose two pixels are both inside mask.

    img [..., H, W, 3] (uint8 or [0, 1]; channel mean) or [..., H, W]; mask [..., H, W] bool
    (None: every pixel). A stack is pooled: one ratio over all its pairs. Grid lines sit
    between pixels period*k - 1 and period*k (the VAE's latent cells start at pixel 0).
    Why: the generator's VAE compresses 4x, so a decoder that fails shows 4x4 blocks; in a
    natural image gradients do not care where the grid is (ratio ~1), a 4-px mosaic puts
    them all on the grid lines (ratio >> 1). Score it for the truth too: its own level is
    the reference. eps (in [0, 1] units) keeps flat regions at ~1; nan if no pair is inside.
    """
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 2:
        raise ValueError(f"period must be an integer >= 2, got {period!r}")
    x = _unit(img)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    colour = x.ndim == m.ndim + 1 if m is not None else (x.ndim >= 3 and x.shape[-1] == 3)
    g = x.mean(-1) if colour else x
    m = np.ones(g.shape, bool) if m is None else m
    if m.shape != g.shape:
        raise ValueError(f"mask {m.shape} does not match the image {g.shape}")
    on = off = 0.0
    n_on = n_off = 0
    for axis in (-1, -2):
        d = np.abs(np.diff(g, axis=axis))
        both = np.take(m, range(m.shape[axis] - 1), axis=axis) & np.take(m, range(1, m.shape[axis]), axis=axis)
        # pair k joins pixels k and k + 1: across a grid line when k + 1 is a multiple of period
        line = (np.arange(d.shape[axis]) + 1) % period == 0
        shape = [1] * d.ndim
        shape[axis] = -1
        line = np.broadcast_to(line.reshape(shape), d.shape)
        on += float(d[both & line].sum())
        n_on += int((both & line).sum())
        off += float(d[both & ~line].sum())
        n_off += int((both & ~line).sum())
    if n_on == 0 or n_off == 0:
        return float("nan")
    return float((on / n_on + eps) / (off / n_off + eps))
