"""Source-resolution arrays moved to the env's frames: the same centre crop and resize.

Depth, intrinsics and frames given at a video's own size must land where the frames do
(io.video.crop_transform), or warps would sample the wrong pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...io.video import crop_transform

__all__ = ["GeometrySizeError", "fit_depth", "fit_K", "fit_mask", "fit_rgb", "numeric"]


class GeometrySizeError(ValueError):
    """A per-pixel array at neither the env's size nor the source's: it cannot be refitted
    to another resolution (the canonical geometry falls back to the world itself)."""


def numeric(value: object, what: str) -> np.ndarray:
    """value as a numeric array, or a TypeError naming `what` and the bad value (numpy's
    own "could not convert string to float" names neither)."""
    a = np.asarray(value)
    if a.dtype.kind in "biuf":
        return a
    if a.dtype.kind == "O":
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError):
            pass
    first = next((v for v in a.flat if not isinstance(v, (int, float, np.number))), a.flat[0] if a.size else None)
    first = first.item() if isinstance(first, np.generic) else first  # 'far', not np.str_('far')
    raise TypeError(f"{what} must be a numeric array, got dtype {a.dtype}"
                    + (f" holding {first!r}" if a.size else ""))


def _fit_nearest(arr: np.ndarray, what: str, T: int, width: int, height: int,
                 src_size: tuple[int, int] | None) -> np.ndarray:
    """A [T, h, w] array at the output size, or at the source size cropped and resized
    like the frames (nearest: depth edges and masks must not blend)."""
    if arr.ndim != 3 or arr.shape[0] != T:
        raise ValueError(f"{what} must be [T,H,W] with T={T} frames, got shape {arr.shape}")
    if arr.shape[1:] == (height, width):
        return arr
    if src_size is not None and arr.shape[1:] == (src_size[1], src_size[0]):
        x0, y0, cw, ch, _ = crop_transform(src_size[0], src_size[1], width, height)
        return np.stack(
            [cv2.resize(a[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_NEAREST) for a in arr]
        )
    expect = f"{(T, height, width)}" + (f" or {(T, src_size[1], src_size[0])}" if src_size else "")
    raise GeometrySizeError(f"{what} shape {arr.shape} matches neither the env frames nor the source: "
                            f"expected {expect}")


def fit_depth(depth: np.ndarray, T: int, width: int, height: int, src_size: tuple[int, int] | None) -> np.ndarray:
    """User depth at the output size, or at the source size (cropped and resized like the frames)."""
    return _fit_nearest(numeric(depth, "depth").astype(np.float32, copy=False), "depth", T, width, height, src_size)


def fit_mask(mask: np.ndarray | None, T: int, width: int, height: int,
             src_size: tuple[int, int] | None) -> np.ndarray | None:
    """A per-pixel bool mask (the far pixels) through the same crop and resize as depth."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise ValueError(f"far mask must be bool (or 0/1 values), got dtype {m.dtype}")
        m = m.astype(bool)
    return _fit_nearest(m.astype(np.uint8), "far mask", T, width, height, src_size).astype(bool)


def fit_K(K: np.ndarray, width: int, height: int, src_size: tuple[int, int] | None) -> np.ndarray:
    """Intrinsics given for the source resolution, moved through the same crop and resize."""
    K = numeric(K, "K").astype(np.float64, copy=False)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3x3, got shape {K.shape}")
    if src_size is None or src_size == (width, height):
        return K
    x0, y0, _, _, s = crop_transform(src_size[0], src_size[1], width, height)
    K2 = K.copy()
    K2[0, 0] *= s
    K2[1, 1] *= s
    K2[0, 2] = (K[0, 2] - x0 + 0.5) * s - 0.5
    K2[1, 2] = (K[1, 2] - y0 + 0.5) * s - 0.5
    return K2


def fit_rgb(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames [T, h, w, 3] centre-cropped to the target aspect and resized, like io.video.fit_frame."""
    h, w = frames.shape[1:3]
    if (w, h) == (width, height):
        return frames
    x0, y0, cw, ch, sc = crop_transform(w, h, width, height)
    interp = cv2.INTER_AREA if sc < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=interp) for f in frames])
