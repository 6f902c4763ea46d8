"""7-Scenes sequences: real frames with measured depth and poses (a real-world test of the warp)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..reference import ReferenceWorld
from .arrays import array_world
from .fit import fit_rgb

__all__ = ["seven_scenes_world"]


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
        z = cv2.imread(str(f).replace(".color.png", ".depth.png"), cv2.IMREAD_UNCHANGED)
        if img is None or z is None:
            raise ValueError(f"cannot read {str(f)!r} or its depth")
        rgb.append(img[..., ::-1])
        z = z.astype(np.float32)
        z[(z == 0) | (z >= 65535)] = 0
        depth.append(z / 1000.0)
        pose = np.loadtxt(str(f).replace(".color.png", ".pose.txt"))
        u, _, vt = np.linalg.svd(pose[:3, :3])  # the files' rotations are off orthonormal by up to 1.6e-4
        pose[:3, :3] = u @ vt
        pose[3] = (0, 0, 0, 1)
        c2w.append(pose)
    frames = np.stack(rgb)
    H, W = frames.shape[1:3]
    kfile = folder / "camera-intrinsics.txt"
    K = np.loadtxt(kfile) if kfile.is_file() else np.array([[585.0, 0, W / 2], [0, 585.0, H / 2], [0, 0, 1]])
    d = np.stack(depth)
    # holes in the sensor's depth take the frame's median, so warps have no missing points
    for z in d:
        if (z > 0).any():
            z[z == 0] = np.median(z[z > 0])
    return array_world(fit_rgb(frames, width, height), depth=d, c2w=np.stack(c2w), K=K, fps=30.0,
                       name=folder.name, src_size=(W, H))
