"""Camera poses of a video by structure from motion (COLMAP through pycolmap).

The reconstruction runs in a child process (colmap_worker.py): pycolmap and OpenCV cannot
share one process, and a COLMAP abort must not take the environment down with it. The
worker dies with this process (it watches its stdin, its parent pid and, on Linux, gets a
signal when the parent dies) and then removes its temp folder, where COLMAP's log files go.

Two kinds of failure: SfmError, the reconstruction failed on these frames (no initial pair,
too few registered, COLMAP crashed on them); SfmUnavailable, it could not run here (pycolmap
missing, the worker killed by a signal or out of memory, out of time or disk), which says
nothing about the video and must never be cached as its answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

__all__ = ["SfmError", "SfmUnavailable", "SfmResult", "run_sfm", "fill_poses", "sfm_available", "rescale_result",
           "MATCHERS"]

_WORKER = Path(__file__).with_name("colmap_worker.py")
#: Feature matchers: sequential (each frame with its next `overlap` and at powers of two),
#: exhaustive (every pair: slower, quadratic, but finds loops and revisits in short clips).
MATCHERS = ("sequential", "exhaustive")


class SfmError(RuntimeError):
    """The reconstruction failed (no initial pair, too few registered frames, a COLMAP crash)."""


class SfmUnavailable(SfmError):
    """SfM could not run here (pycolmap missing, the worker killed or out of memory, out of
    time or disk): nothing is known about the video, so the outcome must not be cached."""


#: The worker's exit codes (colmap_worker.py, which is never imported, has the same values):
#: a failure of its environment, not of the frames (sysexits' EX_TEMPFAIL), and stopped by a
#: signal (its temp folder removed).
EXIT_UNAVAILABLE = 75
EXIT_STOPPED = 76
#: Signals a process raises on itself when COLMAP crashes on the input; any other signal came
#: from outside (the OOM killer's SIGKILL, a SIGTERM, a Ctrl-C).
_CRASH_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
#: stderr lines that mean the machine ran out of memory, whatever the exit code.
_OUT_OF_MEMORY = ("std::bad_alloc", "MemoryError", "Cannot allocate memory", "out of memory")


@dataclass
class SfmResult:
    """Registered frames, their camera-to-world poses, the shared intrinsics and the sparse points."""

    frame_ids: np.ndarray  # [n] indices into the frames given to run_sfm
    c2w: np.ndarray  # [n, 4, 4] OpenCV camera-to-world, COLMAP's world frame and scale
    K: np.ndarray  # [3, 3] at the frames' resolution
    points: np.ndarray  # [P, 3] sparse 3D points
    obs_frame: np.ndarray  # [O] frame index of each observation of a point
    obs_uv: np.ndarray  # [O, 2] its pixel position (COLMAP convention: pixel centres at +0.5)
    obs_point: np.ndarray  # [O] index into points
    reproj_error: float  # mean reprojection error, pixels
    focal_refined: bool  # the focal search moved the focal length off the prior
    seconds: float
    focal_search: dict[str, Any] = field(default_factory=dict)  # what the focal search tried (colmap_worker)


def sfm_available() -> bool:
    """True when pycolmap is installed (checked without importing it into this process)."""
    return importlib.util.find_spec("pycolmap") is not None


def run_sfm(frames: np.ndarray, fov: float = 60.0, threads: int = 1, seed: int = 0, max_features: int = 2048,
            overlap: int = 10, init_angle: float = 16.0, timeout: float = 1800.0, matcher: str = "sequential",
            focal_search: bool = True) -> SfmResult:
    """Poses of frames [N, H, W, 3] (uint8 RGB, in order) with one shared pinhole camera.

    fov: horizontal field of view (degrees) of the focal-length prior; init_angle: the least
    triangulation angle of the initial pair (degrees); matcher: one of MATCHERS; focal_search:
    let the worker move the focal length off the prior where the data pin it down. Raises
    SfmError when fewer than 2 frames register or COLMAP fails.
    """
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    if not sfm_available():
        raise SfmUnavailable("pycolmap is not installed (pip install pycolmap)")
    N, H, W, _ = frames.shape
    if N < 2:
        raise SfmError(f"structure from motion needs at least 2 frames, got {N}")
    focal = 0.5 * W / np.tan(np.radians(fov) / 2)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inspatio-sfm-", ignore_cleanup_errors=True) as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for i, f in enumerate(frames):
            if not cv2.imwrite(str(images / f"{i:06d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR)):
                raise SfmUnavailable(f"could not write frame {i} for COLMAP into {tmp} (disk full?)")
        out = Path(tmp) / "sfm.npz"
        cmd = [sys.executable, str(_WORKER), str(images), str(out), "--focal", repr(float(focal)), "--width", str(W),
               "--height", str(H), "--threads", str(threads), "--seed", str(seed), "--max-features",
               str(max_features), "--overlap", str(overlap), "--init-angle", repr(float(init_angle)),
               "--matcher", matcher, "--parent", str(os.getpid()), "--cleanup", tmp] + \
            ([] if focal_search else ["--no-focal-search"])
        returncode, stderr = _run_worker(cmd, _worker_env(Path(tmp)), Path(tmp) / "worker.log", timeout)
        if returncode != 0 or not out.exists():
            raise _failure(returncode, stderr)
        with np.load(out, allow_pickle=False) as z:
            r = {k: z[k] for k in z.files}
    if not bool(r["ok"]):
        raise SfmError(f"COLMAP: {r['reason']}")
    if len(r["frame_ids"]) < 2:
        raise SfmError(f"only {len(r['frame_ids'])} of {N} frames registered")
    f, cx, cy = r["params"][:3]
    # COLMAP puts pixel centres at +0.5; ours (OpenCV) at integers
    K = np.array([[f, 0, cx - 0.5], [0, f, cy - 0.5], [0, 0, 1]], dtype=np.float64)
    return SfmResult(frame_ids=r["frame_ids"], c2w=r["c2w"], K=K, points=r["points"], obs_frame=r["obs_frame"],
                     obs_uv=r["obs_uv"] - 0.5, obs_point=r["obs_point"], reproj_error=float(r["reproj_error"]),
                     focal_refined=bool(r["focal_refined"]), seconds=time.perf_counter() - t0,
                     focal_search=json.loads(str(r["focal_search"])) if "focal_search" in r else {})


def _worker_env(tmp: Path) -> dict[str, str]:
    """The worker's environment: COLMAP's glog files go into the worker's own temp folder
    (removed with it), not into TMPDIR, where every run used to leave one."""
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    return {**os.environ, "GLOG_log_dir": str(logs), "GOOGLE_LOG_DIR": str(logs)}


def _run_worker(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[int, str]:
    """(exit code, the tail of its output) of the worker, whose stdout and stderr go to `log`.
    Its stdin is a pipe only this process holds open (never written to): when this process
    dies the worker reads EOF and quits. Any exception here (a timeout, Ctrl-C) kills the
    worker before its temp folder is removed."""
    read_end, write_end = os.pipe()
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdin=read_end, stdout=out, stderr=subprocess.STDOUT, env=env)
    except OSError as e:
        os.close(write_end)
        raise SfmUnavailable(f"could not start the COLMAP worker: {e}") from None
    finally:
        os.close(read_end)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SfmUnavailable(f"COLMAP did not finish within {timeout:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(write_end)
    try:
        text = log.read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        text = ""
    return proc.returncode, text


def _failure(returncode: int, stderr: str) -> SfmError:
    """The error for a worker that gave no result: SfmUnavailable when the cause lies outside
    the frames (a signal from outside, out of memory, the worker's own environment failure)."""
    tail = " | ".join(stderr.strip().splitlines()[-3:]) or "no output"
    if any(m in stderr for m in _OUT_OF_MEMORY):
        return SfmUnavailable(f"the COLMAP worker ran out of memory: {tail}")
    if returncode < 0:
        sig = signal.Signals(-returncode) if -returncode in signal.valid_signals() else -returncode
        name = getattr(sig, "name", f"signal {-returncode}")
        if sig in _CRASH_SIGNALS:
            return SfmError(f"COLMAP crashed ({name}): {tail}")
        return SfmUnavailable(f"the COLMAP worker was killed by {name} (the out-of-memory killer, or a signal "
                              f"from outside): {tail}")
    if returncode == EXIT_UNAVAILABLE:
        return SfmUnavailable(f"the COLMAP worker could not run: {tail}")
    if returncode == EXIT_STOPPED:
        return SfmUnavailable("the COLMAP worker was stopped by a signal")
    if returncode == 0:
        return SfmUnavailable("the COLMAP worker exited without writing its result")
    return SfmError(f"COLMAP failed (exit code {returncode}): {tail}")


def rescale_result(r: SfmResult, sx: float, sy: float, ox: float = 0.0, oy: float = 0.0) -> SfmResult:
    """The result for frames resized by (sx, sy) and shifted by (ox, oy) pixels: SfM run at a
    higher resolution than the frames that are kept, expressed at theirs (K and the sparse uv;
    poses and points do not change). Pixel centres are integers (OpenCV), so a pixel u maps to
    (u + 0.5) * s - 0.5 + o."""
    if not (sx > 0 and sy > 0):
        raise ValueError(f"scale factors must be positive, got sx={sx!r}, sy={sy!r}")
    K = r.K.copy()
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5 + ox
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5 + oy
    uv = np.stack([(r.obs_uv[:, 0] + 0.5) * sx - 0.5 + ox, (r.obs_uv[:, 1] + 0.5) * sy - 0.5 + oy], 1)
    return replace(r, K=K, obs_uv=uv.reshape(-1, 2))


def fill_poses(frame_ids: np.ndarray, c2w: np.ndarray, num_frames: int) -> np.ndarray:
    """Poses for every frame: registered ones kept, others interpolated (slerp rotation,
    linear position) between their registered neighbours and held constant past the ends."""
    frame_ids = np.asarray(frame_ids)
    order = np.argsort(frame_ids)
    ids, poses = frame_ids[order], np.asarray(c2w)[order]
    out = np.empty((num_frames, 4, 4))
    t = np.clip(np.arange(num_frames), ids[0], ids[-1]).astype(np.float64)
    if len(ids) == 1:
        out[:] = poses[0]
        return out
    rots = Slerp(ids.astype(np.float64), Rotation.from_matrix(poses[:, :3, :3]))(t)
    out[:] = np.eye(4)
    out[:, :3, :3] = rots.as_matrix()
    for k in range(3):
        out[:, k, 3] = np.interp(t, ids, poses[:, k, 3])
    out[ids] = poses
    return out
