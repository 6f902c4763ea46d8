"""7-Scenes sequences: real frames with measured depth and poses (a real-world test of the warp).

A sequence folder holds frames/frame-XXXXXX.color.png, .depth.png (uint16 mm, 0 = invalid)
and .pose.txt (camera-to-world 4x4), and camera-intrinsics.txt. Its geometry is also read
when such a folder (or its frames/) is given as a video's geometry= folder, so the per-frame
pose files are never silently dropped for a static camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..reference import ReferenceWorld
from .arrays import array_world
from .fit import fit_rgb

__all__ = ["SevenScenesGeometry", "read_seven_scenes_geometry", "seven_scenes_frames_dir", "seven_scenes_world"]

#: 7-Scenes' own intrinsics (Kinect v1 colour at 640x480): fx = fy = 585 at the image centre.
_FOCAL = 585.0


@dataclass
class SevenScenesGeometry:
    """Depth [T, H, W] float32 metres (0 = invalid), c2w [T, 4, 4], K [3, 3] at the depth size."""

    depth: np.ndarray
    c2w: np.ndarray
    K: np.ndarray
    stems: list[str]  # frame-XXXXXX, in order


def seven_scenes_frames_dir(folder: str | Path) -> Path | None:
    """The folder holding 7-Scenes' per-frame .pose.txt files: folder itself or its frames/; None if neither."""
    folder = Path(folder)
    for d in (folder, folder / "frames"):
        if d.is_dir() and any(d.glob("*.pose.txt")):
            return d
    return None


def _pose(path: Path) -> np.ndarray:
    """A camera-to-world 4x4 from a .pose.txt, made exactly rigid (the files' rotations are
    off orthonormal by up to 1.6e-4)."""
    try:
        pose = np.loadtxt(path)
    except ValueError as e:
        raise ValueError(f"cannot read pose file {str(path)!r}: {e}") from None
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise ValueError(f"pose file {str(path)!r} must hold a finite 4x4 matrix, got shape {pose.shape}")
    u, _, vt = np.linalg.svd(pose[:3, :3])
    pose[:3, :3] = u @ vt
    pose[3] = (0, 0, 0, 1)
    return pose


def _depth_m(path: Path) -> np.ndarray:
    z = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if z is None or z.ndim != 2:
        raise ValueError(f"cannot read depth image {str(path)!r} (expected a 16-bit single-channel PNG)")
    z = z.astype(np.float32)
    z[(z == 0) | (z >= 65535)] = 0
    return z / 1000.0


def _intrinsics(frames_dir: Path, width: int, height: int) -> np.ndarray:
    for kfile in (frames_dir / "camera-intrinsics.txt", frames_dir.parent / "camera-intrinsics.txt"):
        if kfile.is_file():
            K = np.loadtxt(kfile)
            if K.shape != (3, 3):
                raise ValueError(f"{str(kfile)!r} must hold a 3x3 matrix, got shape {K.shape}")
            return K
    return np.array([[_FOCAL, 0, width / 2], [0, _FOCAL, height / 2], [0, 0, 1]])


def read_seven_scenes_geometry(folder: str | Path) -> SevenScenesGeometry:
    """Depth, poses and K of a 7-Scenes sequence (the folder or its frames/): every
    .depth.png must have its .pose.txt and every .pose.txt its .depth.png."""
    d = seven_scenes_frames_dir(folder)
    if d is None:
        raise FileNotFoundError(f"no 7-Scenes *.pose.txt files in {str(folder)!r} or its frames/")
    depth_stems = {p.name[: -len(".depth.png")] for p in d.glob("*.depth.png")}
    pose_stems = {p.name[: -len(".pose.txt")] for p in d.glob("*.pose.txt")}
    if depth_stems != pose_stems:
        odd = sorted(depth_stems ^ pose_stems)
        raise ValueError(f"7-Scenes folder {str(d)!r}: depth and pose files do not pair up; unpaired: "
                         f"{', '.join(odd[:5])}{', ...' if len(odd) > 5 else ''}")
    stems = sorted(depth_stems)
    depth = np.stack([_depth_m(d / f"{s}.depth.png") for s in stems])
    c2w = np.stack([_pose(d / f"{s}.pose.txt") for s in stems])
    K = _intrinsics(d, depth.shape[2], depth.shape[1])
    return SevenScenesGeometry(depth=depth, c2w=c2w, K=K, stems=stems)


def seven_scenes_world(folder: str | Path, width: int = 64, height: int = 64) -> ReferenceWorld:
    """A 7-Scenes sequence: frames/*.color.png, .depth.png (mm), .pose.txt (c2w) and
    camera-intrinsics.txt (K; without it 7-Scenes' own fx = fy = 585 at the image centre)."""
    folder = Path(folder)
    files = sorted((folder / "frames").glob("*.color.png"))
    if not files:
        raise FileNotFoundError(f"no frames/*.color.png in {str(folder)!r}")
    rgb, depth, c2w = [], [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read {str(f)!r}")
        stem = str(f)[: -len(".color.png")]
        rgb.append(img[..., ::-1])
        depth.append(_depth_m(Path(stem + ".depth.png")))
        c2w.append(_pose(Path(stem + ".pose.txt")))
    frames = np.stack(rgb)
    H, W = frames.shape[1:3]
    K = _intrinsics(folder / "frames", W, H)
    d = np.stack(depth)
    # holes in the sensor's depth take the frame's median, so warps have no missing points
    for z in d:
        if (z > 0).any():
            z[z == 0] = np.median(z[z > 0])
    return array_world(fit_rgb(frames, width, height), depth=d, c2w=np.stack(c2w), K=K, fps=30.0,
                       name=folder.name, src_size=(W, H))
