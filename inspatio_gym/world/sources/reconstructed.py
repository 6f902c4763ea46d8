"""Worlds whose geometry recon/ provides: preprocessed from the video itself (SfM and
plane-sweep depth, or the ground-plane prior; cached on disk), or imported from a folder
of depth and poses made elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.video import check_sampling, read_image_folder, read_video
from ...recon.disk_cache import preprocessed
from ...recon.external import load_geometry_dir
from ...recon.preprocess import PreprocessSettings
from ..depth_prior import warn_no_parallax
from ..reference import ReferenceWorld
from .arrays import array_world
from .fit import fit_depth, fit_K, fit_rgb

__all__ = ["preprocessed_world", "imported_world"]


def preprocessed_world(path: Path, width: int, height: int, stride: int, max_frames: int | None,
                       fps: float | None, progress: bool, pattern: str | None, fov: float,
                       preprocess: dict[str, Any] | None) -> ReferenceWorld:
    """A world from the (cached) preprocessed geometry of a video (recon.preprocess);
    preprocess: PreprocessSettings fields, fov the focal prior. A fallback to the
    ground-plane prior warns (NoParallaxWarning) on every build, computed or cached."""
    if pattern is not None and not path.is_dir():
        raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
    try:
        settings = PreprocessSettings(**{"fov": float(fov), **(preprocess or {})})
    except TypeError as e:
        raise ValueError(f"bad preprocess option: {e}") from None
    check_sampling(stride, max_frames)
    pre, hit = preprocessed(path, settings, progress=progress, pattern=pattern)
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    frames, depth, c2w = pre.frames[sel], pre.depth[sel], pre.c2w[sel]
    src = (pre.frames.shape[2], pre.frames.shape[1])
    fallback = pre.report.get("fallback")
    if fallback:
        warn_no_parallax(pre.report, stacklevel=4)  # two frames above video_world, as before
    return ReferenceWorld(fit_rgb(frames, width, height), fit_depth(depth, len(frames), width, height, src),
                          fit_K(pre.K, width, height, src), c2w, fps or pre.fps / stride, name=path.name,
                          depth_source="ground_plane_prior" if fallback else "sfm",
                          meta={"preprocess": pre.report, "cache_hit": hit})


def imported_world(path: Path, geometry: str | Path, width: int, height: int, stride: int,
                   max_frames: int | None, fov: float, fps: float | None, pattern: str | None) -> ReferenceWorld:
    """A world from a video and a folder of depth/poses made elsewhere (recon.external).
    Image folders play at 30 fps unless fps is given."""
    if path.is_dir():
        (frames, _), vfps = read_image_folder(path, width, height, stride, max_frames, pattern), 30.0
    else:
        frames, vfps, _ = read_video(path, width, height, stride, max_frames)
    geo = load_geometry_dir(geometry)
    n = len(geo.depth)
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    depth = geo.depth[sel]
    if len(depth) != len(frames):
        raise ValueError(f"imported geometry {str(geometry)!r} has {n} depth maps; with stride {stride} that gives "
                         f"{len(depth)}, but the video gave {len(frames)} frames")
    dsize = (geo.depth.shape[2], geo.depth.shape[1])
    c2w = None if geo.c2w is None else np.linalg.inv(geo.c2w[0]) @ geo.c2w[sel]
    # depth and K are fitted from the depth maps' own size here; array_world gets them final
    world = array_world(frames, fit_depth(depth, len(frames), width, height, dsize), c2w,
                        None if geo.K is None else fit_K(geo.K, width, height, dsize), fps or vfps, fov,
                        name=path.name)
    world.depth_source = f"imported:{geo.format}"
    return world
