"""Worlds from real multi-view captures with known cameras: the real side of training and
evaluation (true disocclusions, real textures).

A scene folder holds ``frames/*.png`` (RGB, natural name order), ``poses.txt`` (one
camera-to-world 4x4 per line, 16 numbers, OpenCV axes), ``intrinsics.txt`` (``fx fy cx
cy`` at the stored resolution) and optionally ``depth/*.png`` (uint16 millimetres, 0 =
unknown) named like the frames. Without depth the project makes its own: a plane sweep
with the given poses (recon.mvs) over a depth range triangulated from SIFT matches, so a
scene evaluates the geometry users get, not the dataset's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...geometry.camera import scale_intrinsics
from ...recon.external import read_mm_png
from ...recon.mvs import MvsSettings, plane_sweep_depth
from ..reference import ReferenceWorld
from .arrays import array_world
from .fit import fit_rgb

__all__ = ["MultiviewScene", "is_multiview_folder", "multiview_world", "read_multiview"]

DEPTH_LONG_SIDE = 160  # the plane sweep's working size for scenes without depth


@dataclass
class MultiviewScene:
    """A scene at its stored resolution."""

    frames: np.ndarray  # [N, H, W, 3] uint8 RGB
    c2w: np.ndarray  # [N, 4, 4] float64
    K: np.ndarray  # [3, 3] float64
    depth: np.ndarray | None  # [N, H, W] float32 in the poses' unit (metres), 0 unknown
    name: str


def is_multiview_folder(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "frames").is_dir() and (p / "poses.txt").is_file() and (p / "intrinsics.txt").is_file()


def _read_png(path: Path, flags: int) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise ValueError(f"cannot read image {str(path)!r}")
    return img


def read_multiview(folder: str | Path) -> MultiviewScene:
    """The scene in `folder`, checked: every frame has a pose, depth (if any) one map per frame."""
    folder = Path(folder)
    if not is_multiview_folder(folder):
        raise FileNotFoundError(f"{str(folder)!r} is not a multi-view scene folder "
                                "(needs frames/, poses.txt and intrinsics.txt)")
    files = sorted((folder / "frames").glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no frames/*.png in {str(folder)!r}")
    frames = np.stack([_read_png(f, cv2.IMREAD_COLOR)[..., ::-1] for f in files])
    rows = np.loadtxt(folder / "poses.txt", ndmin=2)
    if rows.shape != (len(files), 16):
        raise ValueError(f"{str(folder / 'poses.txt')!r}: expected {len(files)} lines of 16 numbers "
                         f"(one 4x4 per frame), got shape {rows.shape}")
    c2w = rows.reshape(-1, 4, 4)
    R = c2w[:, :3, :3]
    if not np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-4) or not np.allclose(np.linalg.det(R), 1, atol=1e-4):
        raise ValueError(f"{str(folder / 'poses.txt')!r}: rotations are not orthonormal with det +1")
    intr = np.loadtxt(folder / "intrinsics.txt").ravel()
    if intr.shape != (4,) or not np.all(np.isfinite(intr)) or intr[0] <= 0 or intr[1] <= 0:
        raise ValueError(f"{str(folder / 'intrinsics.txt')!r}: expected 'fx fy cx cy' with fx, fy > 0, got {intr}")
    K = np.array([[intr[0], 0, intr[2]], [0, intr[1], intr[3]], [0, 0, 1]])
    depth = None
    if (folder / "depth").is_dir():
        dfiles = [folder / "depth" / f.name for f in files]
        missing = [str(d) for d in dfiles if not d.is_file()]
        if missing:
            raise ValueError(f"{str(folder)!r}: depth/ lacks maps for {len(missing)} frame(s), e.g. {missing[0]!r}")
        depth = np.stack([read_mm_png(d) for d in dfiles])
        if depth.shape[:3] != frames.shape[:3]:
            raise ValueError(f"{str(folder)!r}: depth maps must be at the frames' size {frames.shape[1:3]}, "
                             f"got {depth.shape[1:]}")
    return MultiviewScene(frames=frames, c2w=c2w.astype(np.float64), K=K, depth=depth, name=folder.name)


def _triangulated_depths(gray: np.ndarray, K: np.ndarray, c2w: np.ndarray, gap: int = 2,
                         pairs: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse points from SIFT matches of frame pairs (i, i + gap) triangulated with the known
    cameras: (frame [M], uv [M, 2], depth [M]) of points with a small reprojection error."""
    sift = cv2.SIFT_create(nfeatures=800)
    bf = cv2.BFMatcher(cv2.NORM_L2)
    N = len(gray)
    out_f, out_uv, out_z = [], [], []
    for i in np.unique(np.linspace(0, max(0, N - 1 - gap), pairs).astype(int)):
        j = min(N - 1, i + gap)
        if j == i:
            continue
        ki, di = sift.detectAndCompute(gray[i], None)
        kj, dj = sift.detectAndCompute(gray[j], None)
        if di is None or dj is None or len(ki) < 8 or len(kj) < 8:
            continue
        good = [m for m, n in (p for p in bf.knnMatch(di, dj, k=2) if len(p) == 2) if m.distance < 0.75 * n.distance]
        if len(good) < 8:
            continue
        pi = np.float64([ki[m.queryIdx].pt for m in good])
        pj = np.float64([kj[m.trainIdx].pt for m in good])
        Pi = K @ np.linalg.inv(c2w[i])[:3]
        Pj = K @ np.linalg.inv(c2w[j])[:3]
        X = cv2.triangulatePoints(Pi, Pj, pi.T, pj.T)
        X = (X[:3] / X[3:]).T
        ok = np.ones(len(X), bool)
        for P, p in ((Pi, pi), (Pj, pj)):
            x = np.c_[X, np.ones(len(X))] @ P.T
            ok &= (x[:, 2] > 0) & (np.linalg.norm(x[:, :2] / x[:, 2:] - p, axis=1) < 1.5)
        z = (np.c_[X, np.ones(len(X))] @ np.linalg.inv(c2w[i])[:3].T)[:, 2]
        out_f.append(np.full(int(ok.sum()), i))
        out_uv.append(pi[ok])
        out_z.append(z[ok])
    if not out_f:
        raise ValueError("no frame pair of this scene could be matched: cannot estimate its depth")
    return np.concatenate(out_f), np.concatenate(out_uv), np.concatenate(out_z)


def estimate_depth(scene: MultiviewScene, long_side: int = DEPTH_LONG_SIDE) -> np.ndarray:
    """The project's own depth of a scene with known cameras, at its stored size."""
    N, H, W, _ = scene.frames.shape
    s = min(1.0, long_side / max(H, W))
    w, h = max(8, round(W * s)), max(8, round(H * s))
    small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in scene.frames])
    K = scale_intrinsics(scene.K, w / W, h / H)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small])
    f, uv, z = _triangulated_depths(gray, K, scene.c2w)
    if len(z) < 16:
        raise ValueError(f"scene {scene.name!r}: only {len(z)} triangulated points, too few to bound its depth")
    near, far = float(np.percentile(z, 5)) * 0.5, float(np.percentile(z, 95)) * 3.0
    depth, _ = plane_sweep_depth(small, K, scene.c2w, (near, far), MvsSettings(), anchors=(f, uv, z))
    return np.stack([cv2.resize(d, (W, H), interpolation=cv2.INTER_LINEAR) for d in depth]).astype(np.float32)


def multiview_world(folder: str | Path, width: int = 64, height: int = 64) -> ReferenceWorld:
    """A world of a multi-view scene (see the module docstring): its frames in order as the
    reference video, its cameras, and its depth (given, or estimated with its cameras)."""
    scene = read_multiview(folder)
    depth = scene.depth
    source = "ground_truth"
    if depth is None:
        depth = estimate_depth(scene)
        source = "plane_sweep"
    else:
        for z in depth:  # sensor holes take the frame's median, as for 7-Scenes
            if (z > 0).any():
                z[z == 0] = np.median(z[z > 0])
    H, W = scene.frames.shape[1:3]
    world = array_world(fit_rgb(scene.frames, width, height), depth=depth, c2w=scene.c2w, K=scene.K, fps=30.0,
                        name=scene.name, src_size=(W, H))
    world.depth_source = source
    world.meta["multiview"] = True  # its frames are views of one static scene (novel-view pairs)
    return world
