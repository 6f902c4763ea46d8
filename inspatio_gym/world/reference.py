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

    ``far`` [T, H, W] bool (or None): pixels beyond the scene's far range (sky, distant
    background) that renderers treat as at infinity; their depth stays a positive estimate
    so consumers that ignore ``far`` still work, but scale and collision leave them out.

    ``canonical`` (or None): the same source built at the canonical resolution
    (sources.load.canonical_size). Scale and the collision cloud come from it, so the
    same actions give the same poses at every observation size; None: this world is its
    own geometry (a world the user built, or one already at the canonical size).
    """

    frames: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    c2w: np.ndarray
    fps: float
    name: str = "world"
    depth_source: str = "ground_truth"
    meta: dict = field(default_factory=dict)
    far: np.ndarray | None = None
    canonical: "ReferenceWorld | None" = field(default=None, repr=False)

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
        self.far = _check_far(self.far, (T, H, W))
        canonical, self.canonical = self.canonical, None
        if canonical is not None:
            self.set_canonical(canonical)

    def set_canonical(self, canonical: "ReferenceWorld | None") -> None:
        """Attach the canonical-resolution build of this world's source (None: detach).

        It must be the same video: same frame count and source poses, else the collision
        cloud and the leash would describe another camera path."""
        if canonical is not None:
            if not isinstance(canonical, ReferenceWorld):
                raise TypeError(f"canonical must be a ReferenceWorld, got {type(canonical).__name__}")
            if canonical.num_frames != self.num_frames:
                raise ValueError(f"canonical world {canonical.name!r} has {canonical.num_frames} frames, "
                                 f"this world {self.num_frames}")
            gap = float(np.abs(canonical.c2w - self.c2w).max())
            if gap > 1e-6:
                raise ValueError(f"canonical world {canonical.name!r} has other source poses "
                                 f"(max difference {gap:.3g})")
            canonical = canonical.geometry_world  # never a chain
        self.canonical = canonical
        self.meta.pop("_scale", None)

    @property
    def geometry_world(self) -> "ReferenceWorld":
        """The world whose depth defines scale and the collision cloud (canonical, or self)."""
        return self if self.canonical is None else self.canonical

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def solid(self, frames: slice | None = None) -> np.ndarray:
        """[T, H, W] bool: pixels with a measured surface (valid depth, not far)."""
        sel = slice(None) if frames is None else frames
        valid = self.depth[sel] > 0
        return valid if self.far is None else valid & ~self.far[sel]

    @property
    def scale(self) -> float:
        """Median valid, non-far depth of the geometry world: the unit of every distance the env uses.

        A world whose every valid pixel is far falls back to the median of all valid depth."""
        if self.canonical is not None:
            return self.canonical.scale
        if "_scale" not in self.meta:
            sel = slice(None, None, max(1, self.num_frames // 16))
            d, solid = self.depth[sel], self.solid(sel)
            self.meta["_scale"] = float(np.median(d[solid] if solid.any() else d[d > 0]))
        return self.meta["_scale"]

    def __repr__(self) -> str:
        fps_note = " (default: the source states none)" if self.meta.get("fps_source") == "default" else ""
        return (
            f"ReferenceWorld(name={self.name!r}, frames={self.num_frames}, size={self.width}x{self.height}, "
            f"fps={self.fps:g}{fps_note}, scale={self.scale:.3g}, depth_source={self.depth_source!r})"
        )


def _check_far(far: object, shape: tuple[int, int, int]) -> np.ndarray | None:
    """far as a [T, H, W] bool array, or None when absent or without a True pixel."""
    if far is None:
        return None
    a = np.asarray(far)
    if a.shape != shape:
        raise ValueError(f"far must have shape {shape} to match the frames, got {a.shape}")
    if a.dtype != np.bool_:
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) or \
                not np.isin(a, (0, 1)).all():
            raise ValueError(f"far must be a bool mask (or 0/1 values), got dtype {a.dtype}")
        a = a.astype(bool)
    return a if a.any() else None
