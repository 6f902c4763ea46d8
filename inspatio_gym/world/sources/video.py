"""Worlds from a video file or an image folder: geometry from the user, from recon, or the plane prior."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.video import check_fps, check_regular_file, frame_rate
from ..reference import ReferenceWorld
from .arrays import array_world, load_geometry_file
from .reconstructed import imported_world, preprocessed_world, read_frames

__all__ = ["GEOMETRY_NAMES", "video_world"]

#: The named geometry sources; anything else given as geometry= is a folder path.
GEOMETRY_NAMES = ("auto", "plane")


def video_world(
    path: str | Path,
    width: int = 64,
    height: int = 64,
    stride: int = 1,
    max_frames: int | None = None,
    depth: str | Path | np.ndarray | None = None,
    c2w: np.ndarray | None = None,
    K: np.ndarray | None = None,
    fov: float = 60.0,
    fps: float | None = None,
    pattern: str | None = None,
    geometry: str | Path = "auto",
    progress: bool = True,
    preprocess: dict[str, Any] | None = None,
) -> ReferenceWorld:
    """A world from a video file or an image folder, with optional user geometry.

    Without depth, geometry says where it comes from: "auto" (preprocess: SfM poses and
    plane-sweep depth, or the ground-plane prior when the clip has no parallax; cached on
    disk, see recon.disk_cache), "plane" (a fronto-parallel plane, static camera: instant), or
    a folder of depth and poses made elsewhere (the original system's DA3 output, its Pi3
    conversion, a plain folder, see recon.external; or a 7-Scenes sequence or its frames/,
    read with its per-frame poses and intrinsics). preprocess: PreprocessSettings fields
    (e.g. {"long_side": 480}); fov is the focal prior. With "auto", stride and max_frames
    apply to the preprocessed frames (at most 300, evenly spaced, by default).
    depth may be an array or a .npy/.npz file (an .npz may also carry c2w and K);
    arrays at the source resolution are cropped and resized like the frames, and K given
    for the source resolution is moved through the same crop and resize. pattern selects
    the images of a folder (glob, e.g. "*.color.png"). fps, when given, is the world's
    frame rate whatever the geometry; else a video's own rate (divided by stride), and for an
    image folder, which states none, io.video.FOLDER_FPS (30) / stride, recorded as
    meta["fps_source"] == "default" (and shown in the world's repr).
    """
    path = Path(path)
    check_fps(fps)
    _check_fov(fov)
    if not path.is_dir():
        check_regular_file(path, "video")  # before anything hashes or decodes it: a FIFO never ends
    named = _check_geometry(geometry)
    if not named and any(v is not None for v in (depth, c2w, K)):
        raise ValueError(f"geometry={str(geometry)!r} (a folder of depth and poses) cannot be combined with "
                         "depth=, c2w= or K=: give one source of geometry")
    if depth is None and c2w is None and K is None and named != "plane":
        if named == "auto":
            return preprocessed_world(path, width, height, stride, max_frames, fps, progress, pattern, fov, preprocess)
        return imported_world(path, geometry, width, height, stride, max_frames, fov, fps, pattern)
    if preprocess is not None:
        raise ValueError("preprocess= applies to geometry='auto' without user depth, c2w or K")
    # the caller's depth, poses and K (arrays or a .npy/.npz file), the plane prior for missing depth
    frames, vfps, src = read_frames(path, width, height, stride, max_frames, pattern)
    if isinstance(depth, (str, Path)):
        depth, c2w, K = _geometry_file(depth, c2w, K)
    if depth is not None:
        depth = np.asarray(depth)
        if depth.ndim == 3 and depth.shape[0] > len(frames):
            depth = depth[::stride][: len(frames)]
    if c2w is not None and np.ndim(c2w) == 3 and len(c2w) > len(frames):
        c2w = np.asarray(c2w)[::stride][: len(frames)]
    rate, rate_source = frame_rate(fps, vfps, path.is_dir())
    world = array_world(frames, depth, c2w, K, rate, fov, name=path.name, src_size=src)
    world.meta["fps_source"] = rate_source
    return world


def _check_fov(fov: object) -> None:
    """The focal prior: a finite number of degrees in (0, 180), named when it is not (a
    string used to fail as "could not convert string to float")."""
    ok = not isinstance(fov, bool) and isinstance(fov, (int, float, np.integer, np.floating))
    if not (ok and np.isfinite(fov) and 0 < fov < 180):
        raise ValueError(f"fov must be a number of degrees in (0, 180), got {fov!r}")


def _check_geometry(geometry: object) -> str | None:
    """"auto" or "plane" for the named sources, None for an existing folder; anything else
    (a typo such as "plan", a missing folder) is an error listing the valid values."""
    if isinstance(geometry, str) and geometry in GEOMETRY_NAMES:
        return geometry
    if not isinstance(geometry, (str, Path)):
        raise TypeError(f"geometry must be 'auto', 'plane' or a folder path, got {type(geometry).__name__}")
    if not Path(geometry).exists():
        raise FileNotFoundError(f"geometry folder not found: {str(geometry)!r}; geometry must be one of "
                                f"{', '.join(repr(g) for g in GEOMETRY_NAMES)} or a folder of depth and poses")
    return None


def _geometry_file(depth_file: str | Path, c2w: np.ndarray | None,
                   K: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Depth, and c2w and K when the file carries them (else the caller's), from a .npy/.npz file."""
    geo = load_geometry_file(depth_file)
    c2w = geo.get("c2w", c2w)
    K = geo.get("K", K)
    for key, val, shape in (("c2w", c2w, (None, 4, 4)), ("K", K, (3, 3))):
        arr = None if val is None else np.asarray(val)
        if arr is not None and (arr.ndim != len(shape) or any(a != b for a, b in zip(arr.shape, shape) if b)):
            raise ValueError(f"{key} in depth file {str(depth_file)!r} has shape {arr.shape}, expected "
                             f"{'[T,4,4]' if key == 'c2w' else '[3,3]'}")
    return geo["depth"], c2w, K
