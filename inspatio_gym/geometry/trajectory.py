"""Camera trajectory files in the original INSPATIO-WORLD format, with its exact math.

A file has 3 lines of space-separated keyframes: pitch (deg, + orbits up), yaw (deg,
+ orbits left) and displacement r. Keyframes are interpolated to one pose per source
frame: more than 3 keys use scipy's smoothing ``UnivariateSpline(k=3)`` with its default
smoothing (it does not pass through the keys exactly: that is the original's behaviour,
kept for compatibility), otherwise linear interpolation; the first and last r are pinned
to the keys. Each (pitch, yaw, r) is a camera on a sphere of radius r about the point
(0, 0, r) of the first camera, looking at it; all-zero angles make it a dolly T = (0, 0, r).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import invert_pose

__all__ = ["Trajectory", "load_trajectory", "parse_trajectory", "interpolate_keys", "orbit_pose", "trajectory_poses"]


@dataclass(frozen=True)
class Trajectory:
    """Keyframes of one trajectory file: pitch and yaw in degrees, displacement r."""

    pitch: np.ndarray
    yaw: np.ndarray
    r: np.ndarray
    name: str = "trajectory"


def parse_trajectory(text: str, name: str = "trajectory") -> Trajectory:
    """Parse the 3-line format; raises ValueError naming the bad line or value."""
    if not isinstance(text, str):
        raise TypeError(f"trajectory {name!r} must be given as text (str), got {type(text).__name__}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != 3:
        raise ValueError(f"trajectory {name!r} must have 3 non-empty lines (pitch, yaw, r), got {len(lines)}")
    keys = []
    for label, line in zip(("pitch", "yaw", "r"), lines):
        try:
            vals = np.array([float(tok) for tok in line.split()], dtype=np.float64)
        except ValueError as e:
            raise ValueError(f"trajectory {name!r}: bad number in the {label} line: {e}") from None
        if not np.isfinite(vals).all():
            i = int(np.flatnonzero(~np.isfinite(vals))[0])
            raise ValueError(f"trajectory {name!r}: non-finite value {line.split()[i]!r} (key {i + 1}) in the {label} line")
        keys.append(vals)
    return Trajectory(*keys, name=name)


def load_trajectory(path: str | Path) -> Trajectory:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"trajectory {str(path)!r} is a directory, not a trajectory file")
    if not path.exists():
        raise FileNotFoundError(f"trajectory file not found: {str(path)!r}")
    if not path.is_file():  # a FIFO or a device: reading it might never end
        raise ValueError(f"trajectory {str(path)!r} is not a regular file (a FIFO, socket or device)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"trajectory file {str(path)!r} is not UTF-8 text (byte {e.start}: {e.object[e.start:e.start + 1]!r}); "
                         "a trajectory is a text file of keyframe lines") from None
    return parse_trajectory(text, name=path.stem)


def interpolate_keys(keys: np.ndarray, n: int) -> np.ndarray:
    """Keys at linspace(0, 1, k) resampled at linspace(0, 1, n): smoothing cubic spline if k > 3."""
    keys = np.asarray(keys, dtype=np.float64)
    if len(keys) == 0:
        raise ValueError("a trajectory line needs at least one keyframe")
    if n < 1:
        raise ValueError(f"number of frames must be >= 1, got {n}")
    if len(keys) == 1:
        return np.full(n, keys[0])
    x = np.linspace(0, 1, len(keys))
    xs = np.linspace(0, 1, n)
    if len(keys) > 3:
        from scipy.interpolate import UnivariateSpline

        return UnivariateSpline(x, keys, k=3)(xs)
    return np.interp(xs, x, keys)


def orbit_pose(pitch_deg: float, yaw_deg: float, r: float, zoom: bool = False, rotation_only: bool = False) -> np.ndarray:
    """The relative c2w of one keyframe: on the sphere of radius r about (0, 0, r), looking at it.

    Angles go through float32 as in the original, the matrix is float64.
    """
    p = np.float32(np.deg2rad(np.float32(pitch_deg)))
    y = np.float32(np.deg2rad(np.float32(yaw_deg)))
    r = np.float32(r)
    cx, sx, cy, sy = np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=np.float64)
    Rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]], dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = Ry @ Rx
    if rotation_only:
        t = [0.0, 0.0, 0.0]
    elif zoom:
        t = [0.0, 0.0, r]
    else:
        t = [-r * cx * sy, -r * sx, r - r * cx * cy]
    T[:3, 3] = np.array(t, dtype=np.float64)
    return T


def trajectory_poses(
    traj: Trajectory,
    source_c2w: np.ndarray,
    rotation_only: bool = False,
    relative_to_source: bool = False,
    r_scale: float = 1.0,
) -> np.ndarray:
    """Target c2w [N, 4, 4] (world coordinates) for N = len(source_c2w).

    The original applies its formula to source poses normalised to the first frame
    (c2w_0 = I): target_i = inv(c2w_0) @ rel_i, or with relative_to_source
    (inv(c2w_0) @ c2w_i) @ (inv(c2w_0) @ rel_i). We normalise the same way, apply that
    formula and map back to the world, which gives target_i = c2w_0 @ rel_i (a path fixed
    to the first camera) and c2w_i @ rel_i (offsets riding on the moving source camera).
    r_scale multiplies r (the original uses its depth units unscaled: 1.0).
    """
    source_c2w = np.asarray(source_c2w, dtype=np.float64)
    if source_c2w.ndim != 3 or source_c2w.shape[1:] != (4, 4) or len(source_c2w) == 0:
        raise ValueError(f"source poses must be [N,4,4] with N >= 1, got shape {source_c2w.shape}")
    if isinstance(r_scale, bool) or not isinstance(r_scale, (int, float, np.integer, np.floating)) \
            or not np.isfinite(r_scale):
        raise ValueError(f"r_scale must be a finite number, got {r_scale!r}")
    n = len(source_c2w)
    pitch = interpolate_keys(traj.pitch, n)
    yaw = interpolate_keys(traj.yaw, n)
    r = interpolate_keys(traj.r, n)
    r[0], r[-1] = traj.r[0], traj.r[-1]
    r = r * r_scale
    zoom = bool(np.all(pitch == 0) and np.all(yaw == 0))
    rel = np.stack([orbit_pose(p, y, d, zoom, rotation_only) for p, y, d in zip(pitch, yaw, r)])
    c2w0 = source_c2w[0]
    local = invert_pose(c2w0) @ source_c2w  # the original's frame-0-normalised source poses
    inv0 = invert_pose(local[0])  # = I, written as the original does
    if relative_to_source:
        target_local = (inv0 @ local) @ (inv0 @ rel)
    else:
        target_local = inv0 @ rel
    return c2w0 @ target_local
