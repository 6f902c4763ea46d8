"""Worlds from arrays the caller has: frames, and whatever depth, poses and intrinsics come
with them (also read from .npy / .npz files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...geometry.camera import intrinsics_from_fov
from ..depth_prior import PLANE_PRIOR_DEPTH, warn_plane_prior
from ..reference import ReferenceWorld
from .fit import fit_depth, fit_K, fit_mask, numeric

__all__ = ["array_world", "load_geometry_file"]


def array_world(
    frames: np.ndarray,
    depth: np.ndarray | None = None,
    c2w: np.ndarray | None = None,
    K: np.ndarray | None = None,
    fps: float = 30.0,
    fov: float = 60.0,
    name: str = "arrays",
    src_size: tuple[int, int] | None = None,
    far: np.ndarray | None = None,
) -> ReferenceWorld:
    """A world from frames [T,H,W,3] uint8 and whatever geometry the caller has.

    No depth: a fronto-parallel plane at PLANE_PRIOR_DEPTH with a DepthPriorWarning.
    No poses: a static camera (identity for every frame). far: [T,H,W] bool pixels at
    infinity (sky), at the output or the source size like depth; None: none.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T,H,W,3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    T, H, W, _ = frames.shape
    if depth is None:
        warn_plane_prior(name, stacklevel=3)
        depth_arr = np.full((T, H, W), PLANE_PRIOR_DEPTH, dtype=np.float32)
        source = "plane_prior"
    else:
        depth_arr = fit_depth(depth, T, W, H, src_size)
        source = "user"
    if c2w is None:
        c2w = np.broadcast_to(np.eye(4), (T, 4, 4)).copy()
    else:
        c2w = numeric(c2w, "c2w").astype(np.float64, copy=False)
        if c2w.shape != (T, 4, 4):
            raise ValueError(f"poses must be [T,4,4] with T={T} frames, got shape {c2w.shape}")
    K = intrinsics_from_fov(W, H, fov) if K is None else fit_K(K, W, H, src_size)
    far_arr = None if far is None else fit_mask(far, T, W, H, src_size)
    return ReferenceWorld(frames, depth_arr, K, c2w, fps, name=name, depth_source=source, far=far_arr)


def load_geometry_file(path: str | Path) -> dict[str, np.ndarray]:
    """Depth and optional poses/intrinsics from .npy (depth only) or .npz (depth, c2w, K).

    Loaded with allow_pickle=False: geometry files are data, never code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {str(path)!r}")
    try:
        if path.suffix == ".npy":
            return {"depth": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
            if "depth" not in out:
                raise ValueError(f"depth file {str(path)!r} has no 'depth' array (has {sorted(out)})")
            aliases = {"poses": "c2w", "intrinsics": "K"}
            return {aliases.get(k, k): v for k, v in out.items()}
    except (OSError, ValueError) as e:
        if "has no 'depth'" in str(e):
            raise
        raise ValueError(f"cannot read depth file {str(path)!r}: {e}") from None
    raise ValueError(f"depth file must be .npy or .npz, got {str(path)!r}")
