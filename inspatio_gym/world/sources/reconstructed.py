"""Worlds whose geometry recon/ provides: preprocessed from the video itself (SfM and
plane-sweep depth, or the ground-plane prior; cached on disk), or imported from a folder
of depth and poses made elsewhere (a 7-Scenes folder is read with its per-frame poses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.video import FOLDER_FPS, check_sampling, frame_rate, read_image_folder, read_video
from ...recon.disk_cache import preprocessed
from ...recon.external import load_geometry_dir
from ...recon.preprocess import PreprocessSettings
from ..depth_prior import warn_no_parallax
from ..reference import ReferenceWorld
from .arrays import array_world
from .fit import fit_depth, fit_K, fit_mask, fit_rgb
from .seven_scenes import read_seven_scenes_geometry, seven_scenes_frames_dir

__all__ = ["preprocessed_world", "imported_world", "read_frames"]


def preprocessed_world(path: Path, width: int, height: int, stride: int, max_frames: int | None,
                       fps: float | None, progress: bool, pattern: str | None, fov: float,
                       preprocess: dict[str, Any] | None) -> ReferenceWorld:
    """A world from the (cached) preprocessed geometry of a video (recon.preprocess);
    preprocess: PreprocessSettings fields, fov the focal prior. A fallback to the
    ground-plane prior warns (NoParallaxWarning) on every build, computed or cached.
    Far pixels (recon's `far` mask, when it has one) go through the crop and resize of depth."""
    if pattern is not None and not path.is_dir():
        raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
    try:
        fov = float(fov)
    except (TypeError, ValueError):
        raise ValueError(f"fov must be a number of degrees, got {fov!r}") from None
    try:
        settings = PreprocessSettings(**{"fov": fov, **(preprocess or {})})
    except TypeError as e:
        raise ValueError(f"bad preprocess option: {e}") from None
    check_sampling(stride, max_frames)
    pre, hit = preprocessed(path, settings, progress=progress, pattern=pattern)
    rate, rate_source = frame_rate(fps, pre.fps / stride, path.is_dir())
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    frames, depth, c2w = pre.frames[sel], pre.depth[sel], pre.c2w[sel]
    far = getattr(pre, "far", None)
    src = (pre.frames.shape[2], pre.frames.shape[1])
    fallback = pre.report.get("fallback")
    if fallback:
        warn_no_parallax(pre.report, stacklevel=4)  # two frames above video_world, as before
    T = len(frames)
    return ReferenceWorld(fit_rgb(frames, width, height), fit_depth(depth, T, width, height, src),
                          fit_K(pre.K, width, height, src), c2w, rate, name=path.name,
                          depth_source="ground_plane_prior" if fallback else "sfm",
                          meta={"preprocess": pre.report, "cache_hit": hit, "fps_source": rate_source},
                          far=None if far is None else fit_mask(far[sel], T, width, height, src))


def read_frames(path: Path, width: int, height: int, stride: int, max_frames: int | None,
                pattern: str | None) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Frames of a video file or an image folder, the rate they state (FOLDER_FPS / stride
    for a folder, which states none) and the source size (w, h)."""
    if path.is_dir():
        frames, src = read_image_folder(path, width, height, stride, max_frames, pattern)
        return frames, FOLDER_FPS / stride, src
    if pattern is not None:
        raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
    return read_video(path, width, height, stride, max_frames)


def _imported_geometry(geometry: str | Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """(depth, c2w, K, format) of a geometry folder: a 7-Scenes one (per-frame .pose.txt)
    by its own reader, any other by recon.external."""
    if seven_scenes_frames_dir(geometry) is not None:
        g = read_seven_scenes_geometry(geometry)
        return g.depth, g.c2w, g.K, "7scenes"
    geo = load_geometry_dir(geometry)
    return geo.depth, geo.c2w, geo.K, geo.format


def imported_world(path: Path, geometry: str | Path, width: int, height: int, stride: int,
                   max_frames: int | None, fov: float, fps: float | None, pattern: str | None) -> ReferenceWorld:
    """A world from a video and a folder of depth/poses made elsewhere (recon.external, or
    a 7-Scenes folder). Image folders play at FOLDER_FPS unless fps is given."""
    frames, vfps, _ = read_frames(path, width, height, stride, max_frames, pattern)
    depth_all, c2w_all, K, fmt = _imported_geometry(geometry)
    n = len(depth_all)
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    depth = depth_all[sel]
    if len(depth) != len(frames):
        raise ValueError(f"imported geometry {str(geometry)!r} has {n} depth maps; with stride {stride} that gives "
                         f"{len(depth)}, but the video gave {len(frames)} frames")
    dsize = (depth_all.shape[2], depth_all.shape[1])
    c2w = None if c2w_all is None else np.linalg.inv(c2w_all[0]) @ c2w_all[sel]
    rate, rate_source = frame_rate(fps, vfps, path.is_dir())
    # depth and K are fitted from the depth maps' own size here; array_world gets them final
    world = array_world(frames, fit_depth(depth, len(frames), width, height, dsize), c2w,
                        None if K is None else fit_K(K, width, height, dsize), rate, fov, name=path.name)
    world.depth_source = f"imported:{fmt}"
    world.meta["fps_source"] = rate_source
    return world
