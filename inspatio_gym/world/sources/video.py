"""Worlds from a video file or an image folder: geometry from the user, from recon, or the plane prior."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.video import read_image_folder, read_video
from ..reference import ReferenceWorld
from .arrays import array_world, load_geometry_file
from .reconstructed import imported_world, preprocessed_world

__all__ = ["video_world"]


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
    conversion, or a plain folder; see recon.external). preprocess: PreprocessSettings fields
    (e.g. {"long_side": 480}); fov is the focal prior. With "auto", stride and max_frames
    apply to the preprocessed frames (at most 300, evenly spaced, by default).
    depth may be an array or a .npy/.npz file (an .npz may also carry c2w and K);
    arrays at the source resolution are cropped and resized like the frames, and K given
    for the source resolution is moved through the same crop and resize. pattern selects
    the images of a folder (glob, e.g. "*.color.png"). Image folders play at 30 fps unless
    fps is given.
    """
    path = Path(path)
    named = isinstance(geometry, str) and geometry in ("auto", "plane")
    if not named and any(v is not None for v in (depth, c2w, K)):
        raise ValueError(f"geometry={str(geometry)!r} (a folder of depth and poses) cannot be combined with "
                         "depth=, c2w= or K=: give one source of geometry")
    if depth is None and c2w is None and K is None and not (isinstance(geometry, str) and geometry == "plane"):
        if isinstance(geometry, str) and geometry == "auto":
            return preprocessed_world(path, width, height, stride, max_frames, fps, progress, pattern, fov, preprocess)
        return imported_world(path, geometry, width, height, stride, max_frames, fov, fps, pattern)
    if preprocess is not None:
        raise ValueError("preprocess= applies to geometry='auto' without user depth, c2w or K")
    # the caller's depth, poses and K (arrays or a .npy/.npz file), the plane prior for missing depth
    if path.is_dir():
        (frames, src), vfps = read_image_folder(path, width, height, stride, max_frames, pattern), 30.0
    else:
        if pattern is not None:
            raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
        frames, vfps, src = read_video(path, width, height, stride, max_frames)
    if isinstance(depth, (str, Path)):
        depth_file = str(depth)
        geo = load_geometry_file(depth)
        depth = geo["depth"]
        c2w = geo.get("c2w", c2w)
        K = geo.get("K", K)
        for key, val, shape in (("c2w", c2w, (None, 4, 4)), ("K", K, (3, 3))):
            arr = None if val is None else np.asarray(val)
            if arr is not None and (arr.ndim != len(shape) or any(a != b for a, b in zip(arr.shape, shape) if b)):
                raise ValueError(f"{key} in depth file {depth_file!r} has shape {arr.shape}, expected "
                                 f"{'[T,4,4]' if key == 'c2w' else '[3,3]'}")
    if depth is not None:
        depth = np.asarray(depth)
        if depth.ndim == 3 and depth.shape[0] > len(frames):
            depth = depth[::stride][: len(frames)]
    if c2w is not None and np.ndim(c2w) == 3 and len(c2w) > len(frames):
        c2w = np.asarray(c2w)[::stride][: len(frames)]
    return array_world(frames, depth, c2w, K, fps or vfps, fov, name=path.name, src_size=src)
