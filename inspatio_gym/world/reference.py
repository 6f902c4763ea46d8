"""The reference world: what the generator and the spatial constraint know of a scene."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ReferenceWorld"]


@dataclass(eq=False)
class ReferenceWorld:
    """Frames, depth, intrinsics and source poses of one reference video.

    frames [T, H, W, 3] uint8 RGB; depth [T, H, W] float32 z-depth (0 = unknown);
    K [3, 3] pinhole intrinsics of the frames; c2w [T, 4, 4] float64 source poses
    (OpenCV axes); fps of the video. ``scale`` is the median valid depth: step sizes,
    leash and collision radii are multiples of it, so one configuration fits any video.
    ``depth_source`` says where depth came from ("ground_truth", "user", "plane_prior").
    """

    frames: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    c2w: np.ndarray
    fps: float
    name: str = "world"
    depth_source: str = "ground_truth"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = np.asarray(self.frames)
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [T,H,W,3], got {f.dtype} {f.shape}")
        T, H, W, _ = f.shape
        if T < 1:
            raise ValueError("a world needs at least one frame, got 0")
        d = np.asarray(self.depth, dtype=np.float32)
        if d.shape != (T, H, W):
            raise ValueError(f"depth must have shape {(T, H, W)} to match the frames, got {d.shape}")
        if not np.isfinite(d).all():
            bad = int((~np.isfinite(d)).sum())
            raise ValueError(f"depth has {bad} non-finite values; use 0 for unknown depth")
        if (d < 0).any():
            raise ValueError(f"depth has negative values (min {d.min():.4g}); use 0 for unknown depth")
        if not (d > 0).any():
            raise ValueError("depth has no valid (positive) value")
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"K must be a finite 3x3 pinhole matrix with fx, fy > 0, got {K.tolist()}")
        c2w = np.asarray(self.c2w, dtype=np.float64)
        if c2w.shape != (T, 4, 4):
            raise ValueError(f"c2w must have shape {(T, 4, 4)} to match the frames, got {c2w.shape}")
        if not np.isfinite(c2w).all():
            raise ValueError("c2w poses contain non-finite values")
        R = c2w[:, :3, :3]
        err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max(axis=(1, 2))
        if (err > 1e-4).any() or (np.linalg.det(R) < 0).any() or np.abs(c2w[:, 3] - [0, 0, 0, 1]).max() > 1e-9:
            i = int(np.argmax(err)) if (err > 1e-4).any() else int(np.argmin(np.linalg.det(R)))
            raise ValueError(f"c2w[{i}] is not a rigid camera-to-world pose (rotation must be orthonormal, "
                             f"det +1, last row [0, 0, 0, 1])")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        self.frames, self.depth, self.K, self.c2w = f, d, K, c2w

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def scale(self) -> float:
        """Median valid depth: the unit of every distance the env uses."""
        if "_scale" not in self.meta:
            d = self.depth[::max(1, self.num_frames // 16)]
            self.meta["_scale"] = float(np.median(d[d > 0]))
        return self.meta["_scale"]

    def __repr__(self) -> str:
        return (
            f"ReferenceWorld(name={self.name!r}, frames={self.num_frames}, size={self.width}x{self.height}, "
            f"fps={self.fps:g}, scale={self.scale:.3g}, depth_source={self.depth_source!r})"
        )
