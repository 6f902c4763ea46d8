"""Consistency of a sequence of views, offline: flow cycle error, loop closure, flicker.

- flow_cycle_epe: OpenCV's DIS optical flow forward (t -> t+1) and backward (t+1 -> t); at
  each pixel x whose forward flow lands inside the image, the cycle error is
  |f(x) + b(x + f(x))| in pixels, averaged over pixels and frame pairs. A world that keeps
  its geometry between views has small cycles; popping content breaks them. (WorldScore's
  SEA-RAFT needs downloaded weights; DIS is the offline stand-in.)
- loop_psnr: PSNR between the first view of a walk out and back along the same actions
  and its last view: a consistent world returns to where it started.
- flicker: mean absolute change (grey levels, 0-255) between consecutive views taken at
  one pose with the time frozen: content that should stand still, scored where it moves.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .metrics import psnr

__all__ = ["flicker", "flow_cycle_epe", "loop_psnr"]


def _grey(f: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)


def flow_cycle_epe(frames: Sequence[np.ndarray], preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> float:
    """Mean forward-backward cycle error (pixels) of DIS flow over consecutive frames [H, W, 3] uint8."""
    if len(frames) < 2:
        raise ValueError(f"flow needs at least 2 frames, got {len(frames)}")
    dis = cv2.DISOpticalFlow_create(preset)
    errs = []
    grey = [_grey(f) for f in frames]
    h, w = grey[0].shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for a, b in zip(grey[:-1], grey[1:]):
        fwd = dis.calc(a, b, None)
        bwd = dis.calc(b, a, None)
        mx, my = xs + fwd[..., 0], ys + fwd[..., 1]
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        back = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cyc = np.linalg.norm(fwd + back, axis=-1)
        if inside.any():
            errs.append(float(cyc[inside].mean()))
    return float(np.mean(errs)) if errs else float("nan")


def loop_psnr(first: np.ndarray, last: np.ndarray) -> float:
    """PSNR (dB) of the last view of an out-and-back walk against its first."""
    return psnr(first, last)


def flicker(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames (grey levels), for views at one pose."""
    if len(frames) < 2:
        raise ValueError(f"flicker needs at least 2 frames, got {len(frames)}")
    f = np.stack([np.asarray(x, dtype=np.float32) for x in frames])
    return float(np.abs(np.diff(f, axis=0)).mean())
