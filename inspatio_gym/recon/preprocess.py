"""A video becomes geometry: frames, per-frame depth, intrinsics and camera poses.

Stages (each with a progress bar): read the video streamed and downscaled; measure its
parallax; with enough parallax, camera poses by COLMAP SfM and dense depth by plane sweep
(the sparse points fix its depth range and unit, seed the filling of its holes, and score
it where it measured: anchor agreement); without (a static or only rotating camera, a clip SfM
cannot register), the ground-plane prior with rotations from homographies, recorded in
the report (`fallback`, `fallback_reason`, `poses`) rather than warned: the world built
from it warns (world.depth_prior) and the preprocess command prints it.
Poses are expressed relative to the first frame and scaled so that the median depth is 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..geometry.camera import intrinsics_from_fov
from ..io.video import IMAGE_SUFFIXES, VideoError, list_images, probe_video, read_image_folder, read_video
from .mvs import MvsSettings, plane_sweep_depth
from .parallax import measure_parallax, rotations_from_homographies
from .prior import ground_plane_depth
from .sfm import SfmError, fill_poses, run_sfm

__all__ = ["PreprocessSettings", "Preprocessed", "preprocess_video", "PIPELINE_VERSION"]

#: Bumped whenever a change of this pipeline changes its output: part of every cache key.
PIPELINE_VERSION = 7


@dataclass(frozen=True)
class PreprocessSettings:
    """What the preprocessed world depends on (all of it goes into the cache key)."""

    long_side: int = 320  # frames are kept, and SfM runs, at this long side (pixels; never enlarged)
    depth_long_side: int = 160  # the plane sweep's long side (at most the frames')
    max_frames: int = 300  # longer videos are subsampled evenly to this many frames
    sfm_max_frames: int = 100  # frames given to SfM (evenly spaced); the rest are interpolated
    fov: float = 60.0  # horizontal field of view of the focal-length prior (degrees)
    min_parallax_px: float = 0.5  # below this (at long_side) the clip counts as rotation-only
    min_registered: float = 0.5  # fraction of SfM frames that must register
    seed: int = 0
    threads: int = 1  # COLMAP is deterministic with one thread (two: ~25% faster, poses vary run to run)

    def __post_init__(self) -> None:
        for name in ("long_side", "depth_long_side", "max_frames", "sfm_max_frames", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (16 if "side" in name else 1):
                raise ValueError(f"{name} must be an integer >= {16 if 'side' in name else 1}, got {v!r}")
        if not (10.0 <= self.fov <= 170.0):
            raise ValueError(f"fov must be in [10, 170] degrees, got {self.fov!r}")
        if not (0.0 < self.min_registered <= 1.0):
            raise ValueError(f"min_registered must be in (0, 1], got {self.min_registered!r}")

    def key(self) -> str:
        blob = json.dumps({"version": PIPELINE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Preprocessed:
    """Geometry of one video at the preprocessing resolution, and how it was obtained."""

    frames: np.ndarray  # [T, h, w, 3] uint8 RGB
    depth: np.ndarray  # [T, h, w] float32, median 1
    K: np.ndarray  # [3, 3]
    c2w: np.ndarray  # [T, 4, 4] relative to frame 0
    fps: float
    report: dict[str, Any] = field(default_factory=dict)


def _size(w: int, h: int, long_side: int) -> tuple[int, int]:
    """(w, h) scaled to the given long side, never enlarged."""
    s = min(1.0, long_side / max(w, h))
    return max(2, round(w * s)), max(2, round(h * s))


def _read(path: Path, s: PreprocessSettings, pattern: str | None = None) -> tuple[np.ndarray, float, tuple[int, int], int]:
    """Frames at long_side (aspect kept), fps, source size and stride."""
    if path.is_dir():
        files = list_images(path, pattern)
        stride = max(1, math.ceil(len(files) / s.max_frames))
        if not files:
            what = f"matching {pattern!r}" if pattern else f"({', '.join(IMAGE_SUFFIXES)})"
            raise VideoError(f"no images {what} in folder {str(path)!r}")
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"cannot decode image {str(files[0])!r}")
        w, h = _size(first.shape[1], first.shape[0], s.long_side)
        frames, src = read_image_folder(path, w, h, stride, s.max_frames, pattern)
        return frames, 30.0 / stride, src, stride
    sw, sh, n, _ = probe_video(path)
    w, h = _size(sw, sh, s.long_side)
    stride = max(1, math.ceil(n / s.max_frames)) if n else 1
    frames, fps, src = read_video(path, w, h, stride, s.max_frames)
    return frames, fps, src, stride


def _normalise(c2w: np.ndarray, depth_scale: float) -> np.ndarray:
    """Poses relative to frame 0 with translations divided by depth_scale."""
    out = np.linalg.inv(c2w[0]) @ c2w
    out[:, :3, 3] /= depth_scale
    out[0] = np.eye(4)
    return out


def _sparse_depths(sfm, c2w_reg: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, uv, z) of every observation of a sparse point, z in the frame's camera."""
    frames = sorted(c2w_reg)
    w2c = np.linalg.inv(np.stack([c2w_reg[f] for f in frames]))  # one inverse per frame
    row = np.searchsorted(frames, sfm.obs_frame)
    X = sfm.points[sfm.obs_point]
    z = np.einsum("nj,nj->n", w2c[row, 2, :3], X) + w2c[row, 2, 3]
    return sfm.obs_frame, sfm.obs_uv, z


def _fallback(frames: np.ndarray, K: np.ndarray, Hs: np.ndarray | None, reason: str, report: dict) -> tuple:
    """The ground-plane prior with homography rotations (or a static camera), and why, in the report."""
    c2w = rotations_from_homographies(Hs, K) if Hs is not None else np.repeat(np.eye(4)[None], len(frames), 0)
    h, w = frames.shape[1:3]
    depth = np.stack([ground_plane_depth(h, w, K, c) for c in c2w])
    report.update(fallback="ground_plane_prior", fallback_reason=reason,
                  poses="homography_rotations" if Hs is not None else "static")
    return depth, c2w


def preprocess_video(path: str | Path, settings: PreprocessSettings = PreprocessSettings(),
                     progress: bool = True, pattern: str | None = None) -> Preprocessed:
    """Geometry of a video file or image folder (see the module docstring); pattern selects
    a folder's images (glob)."""
    s = settings
    path = Path(path)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=4, desc=f"preprocess {path.name}", disable=not progress, unit="stage")

    def stage(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 3)
        bar.update(1)

    t0 = time.perf_counter()
    frames, fps, src, stride = _read(path, s, pattern)
    T, h, w, _ = frames.shape
    stage("read", t0)
    K = intrinsics_from_fov(w, h, s.fov)
    report: dict[str, Any] = {"video": str(path), "source_size": list(src), "size": [w, h], "frames": T,
                              "stride": stride, "fps": fps, "fallback": None}
    t0 = time.perf_counter()
    par = measure_parallax(frames)
    report.update(motion_px=round(par.motion_px, 3), parallax_px=round(par.parallax_px, 3), tracked=par.tracked,
                  parallax_known=par.known)
    stage("parallax", t0)
    depth = c2w = None
    if T < 2:
        depth, c2w = _fallback(frames, K, None, "a one-frame video", report)
    elif par.static:
        depth, c2w = _fallback(frames, K, None, f"static camera: corners moved {par.motion_px:.2f} px", report)
    elif not par.enough(s.min_parallax_px):
        depth, c2w = _fallback(frames, K, par.homographies,
                               f"rotation only: {par.parallax_px:.2f} px of parallax < {s.min_parallax_px}", report)
    else:
        t0 = time.perf_counter()
        ids = np.unique(np.linspace(0, T - 1, min(T, s.sfm_max_frames)).round().astype(int))
        try:
            sfm = _sfm_with_retries(frames[ids], s, report)
            reg = ids[sfm.frame_ids]
        except SfmError as e:
            stage("sfm", t0)
            report["sfm_error"] = str(e)
            depth, c2w = _fallback(frames, K, par.homographies, f"SfM failed: {e}", report)
        else:
            stage("sfm", t0)
            K = sfm.K
            c2w_reg = {int(f): c for f, c in zip(sfm.frame_ids, sfm.c2w)}
            of, uv, z = _sparse_depths(sfm, c2w_reg)
            z_pos = z[z > 0]
            scale = float(np.median(z_pos)) if len(z_pos) else 1.0
            c2w = _normalise(fill_poses(reg, sfm.c2w, T), scale)
            z = z / scale
            t0 = time.perf_counter()
            depth, kept = _dense(frames, K, c2w, np.percentile(z_pos / scale, [5, 95]) if len(z_pos) else (0.2, 5.0),
                                 s, progress, (ids[of], uv, z))
            report.update(depth_kept=round(float(kept.mean()), 4), **_anchor_agreement(depth, kept, ids[of], uv, z))
            stage("depth", t0)
    if depth is not None and report["fallback"] is not None:
        c2w = _normalise(c2w, 1.0)
    depth = (depth / np.median(depth[depth > 0])).astype(np.float32) if report["fallback"] else depth
    bar.close()
    report["seconds"] = round(time.perf_counter() - t_start, 3)
    report["timings"] = timings
    report["settings"] = asdict(s)
    return Preprocessed(frames=frames, depth=depth, K=K, c2w=c2w, fps=fps, report=report)


#: (seed offset, initial-pair angle in degrees) tried in turn until enough frames register.
#: COLMAP on short hand-held clips is chaotic: on 7-Scenes, seeds 0 / 1 / 2 registered
#: 17 / 7 / 50 of 50 frames, and the focal prior changed by 0.001 px moved it from 17 to 50.
SFM_ATTEMPTS = ((0, 16.0), (1, 16.0), (2, 8.0), (3, 8.0))


def _sfm_with_retries(frames: np.ndarray, s: PreprocessSettings, report: dict):
    """The first SfM attempt that registers enough frames, else the best (most registered)
    one, else SfmError; every attempt is recorded in the report."""
    best, attempts = None, []
    for offset, angle in SFM_ATTEMPTS:
        seed = s.seed + offset
        try:
            r = run_sfm(frames, fov=s.fov, threads=s.threads, seed=seed, init_angle=angle)
        except SfmError as e:
            attempts.append({"seed": seed, "init_angle": angle, "error": str(e)})
            continue
        attempts.append({"seed": seed, "init_angle": angle, "registered": len(r.frame_ids),
                         "reproj_error_px": round(r.reproj_error, 4), "seconds": round(r.seconds, 2)})
        if best is None or len(r.frame_ids) > len(best.frame_ids):
            best = r
        if len(r.frame_ids) >= s.min_registered * len(frames):
            break
    report["sfm_attempts"] = attempts
    if best is None:
        raise SfmError("; ".join(a["error"] for a in attempts))
    report.update(sfm_frames=len(frames), registered=len(best.frame_ids), reproj_error_px=round(best.reproj_error, 4),
                  focal_px=round(float(best.K[0, 0]), 3), focal_refined=best.focal_refined,
                  sparse_points=len(best.points))
    if len(best.frame_ids) < s.min_registered * len(frames):
        raise SfmError(f"only {len(best.frame_ids)} of {len(frames)} frames registered")
    return best


def _dense(frames: np.ndarray, K: np.ndarray, c2w: np.ndarray, zrange, s: PreprocessSettings,
           progress: bool, anchors: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Plane-sweep depth at depth_long_side over the sparse points' depth range, at the frames' size."""
    T, h, w, _ = frames.shape
    dw, dh = _size(w, h, min(s.depth_long_side, max(w, h)))
    small = np.stack([cv2.resize(f, (dw, dh), interpolation=cv2.INTER_AREA) for f in frames])
    sx, sy = dw / w, dh / h
    Ks = K.copy()
    Ks[0] *= sx
    Ks[1] *= sy
    Ks[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    Ks[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    # zrange: 5th / 95th percentiles of the sparse depths (forward motion triangulates a few
    # points absurdly near the camera: the 1st percentile of a dolly clip was 0.02 x the
    # median). Generous margins, as planes are uniform in inverse depth: a range that misses a
    # surface ruins it (that clip: delta 0.50 with 2nd / 98th and 0.6x / 1.6x, 0.90 with these)
    near, far = float(zrange[0]) * 0.5, float(zrange[1]) * 3.0
    with tqdm(total=T, desc="depth (plane sweep)", disable=not progress, unit="frame", leave=False) as pb:
        f, uv, z = anchors
        uv_small = np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], 1)
        depth, kept = plane_sweep_depth(small, Ks, c2w, (near, far), MvsSettings(), progress=pb.update,
                                        anchors=(f, uv_small, z))
    big = np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in depth]).astype(np.float32)
    kept_big = np.stack([cv2.resize(k.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for k in kept]) > 0
    return big, kept_big


def _anchor_agreement(depth: np.ndarray, kept: np.ndarray, obs_frame: np.ndarray, obs_uv: np.ndarray,
                      obs_z: np.ndarray) -> dict:
    """How the measured dense depth agrees with the sparse SfM points, at pixels the sweep
    measured (sparse points that fell in holes seeded the fill there, so they are not scored)."""
    T, h, w = depth.shape
    u = np.clip(np.round(obs_uv[:, 0]).astype(int), 0, w - 1)
    v = np.clip(np.round(obs_uv[:, 1]).astype(int), 0, h - 1)
    ok = (obs_z > 0) & kept[obs_frame, v, u]
    ratio = depth[obs_frame[ok], v[ok], u[ok]] / obs_z[ok]
    if not len(ratio):
        return {}
    return {"anchor_median_ratio": round(float(np.median(ratio)), 4),
            "anchor_within_10pct": round(float(np.mean(np.abs(ratio - 1) < 0.1)), 4)}
