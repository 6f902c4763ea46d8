"""Preprocessed worlds on disk, keyed by the video's content and the settings.

An entry is a folder `<root>/worlds/<key>/` holding `geometry.npz` (plain arrays, loaded
without pickle; `far`, the bool mask of pixels beyond the scene's range, since pipeline
version 8: an entry without it loads with far None) and `report.json`. It is built in a temporary sibling folder and renamed
into place in one step (io.atomic.atomic_dir), so an interrupted preprocessing (a crash,
Ctrl-C) leaves at most a `.tmp-*` folder that is never read and is swept by `clear`. The
key is the sha256 of the video's bytes (of a folder's image files, names and bytes) and of
the settings, so editing or replacing the video, or changing a setting, misses the cache
rather than reusing stale geometry. The root is $INSPATIO_GYM_CACHE, else
$XDG_CACHE_HOME/inspatio_gym, else ~/.cache/inspatio_gym.

The cache only ever saves work: an entry whose content does not check out (NaN depth, a
pose that is not rigid) is discarded and rebuilt; a folder that cannot be written (full,
read-only) leaves the result in memory; a result whose SfM could not run here (the report's
`sfm_unavailable`: pycolmap missing, the worker killed) is not stored, so the next run
retries. Each says so with a CacheWarning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_dir, is_temporary
from ..io.video import check_regular_file, list_images
from .preprocess import Preprocessed, PreprocessSettings, preprocess_video

__all__ = ["cache_root", "content_hash", "entry_key", "load_entry", "save_entry", "preprocessed",
           "list_entries", "clear_entries", "CacheWarning"]

_ARRAYS = ("frames", "depth", "K", "c2w")


class CacheWarning(UserWarning):
    """A cache entry could not be read (discarded) or written, or a result was not cached."""


def cache_root() -> Path:
    env = os.environ.get("INSPATIO_GYM_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "inspatio_gym"


def _worlds() -> Path:
    return cache_root() / "worlds"


def content_hash(path: str | Path, pattern: str | None = None) -> str:
    """sha256 of a file's bytes, or of an image folder's file names and bytes (the images
    `pattern` selects)."""
    path = Path(path)
    h = hashlib.sha256()
    files = list_images(path, pattern) if path.is_dir() else [path]
    for f in files:
        check_regular_file(f, "image" if path.is_dir() else "video")  # a FIFO or /dev/zero never ends
        if path.is_dir():
            h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def entry_key(path: str | Path, settings: PreprocessSettings, pattern: str | None = None) -> str:
    return f"{content_hash(path, pattern)[:20]}-{settings.key()}"


def load_entry(key: str) -> Preprocessed | None:
    """The entry, or None when absent; a damaged entry is removed with a CacheWarning."""
    d = _worlds() / key
    if not d.is_dir():
        return None
    try:
        report = json.loads((d / "report.json").read_text())
        with np.load(d / "geometry.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in (*_ARRAYS, "fps")}
            far = z["far"] if "far" in z.files else None
        pre = Preprocessed(frames=arrays["frames"], depth=arrays["depth"], K=arrays["K"], c2w=arrays["c2w"],
                           fps=float(arrays["fps"]), report=report, far=far)
        _check_content(pre)
        stale = _sfm_could_not_run(report)
        if stale:
            raise ValueError(f"made when SfM could not run ({stale}), not an answer about the video")
        return pre
    except Exception as e:  # noqa: BLE001 - any damage means: rebuild
        warnings.warn(f"discarding damaged cache entry {str(d)!r}: {e}", CacheWarning, stacklevel=2)
        shutil.rmtree(d, ignore_errors=True)
        return None


#: The errors with which SfM attempts that could not run were cached before sfm.SfmUnavailable
#: existed: pycolmap missing, out of time, the worker killed by a signal from outside.
_OUTSIDE_SIGNALS = "|".join(str(int(s)) for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
_OLD_UNAVAILABLE = re.compile(r"pycolmap is not installed|COLMAP did not finish within|"
                              rf"COLMAP failed \(exit code -({_OUTSIDE_SIGNALS})\)")


def _sfm_could_not_run(report: dict[str, Any]) -> str | None:
    """Why the entry's SfM could not run, when an entry written before such results stopped
    being cached says so (it would otherwise be served for good, pycolmap installed or not)."""
    if report.get("sfm_unavailable"):
        return str(report["sfm_unavailable"])
    for attempt in report.get("sfm_attempts") or []:
        m = _OLD_UNAVAILABLE.search(str(attempt.get("error", "")) if isinstance(attempt, dict) else "")
        if m:
            return m.group(0)
    return None


def _check_content(pre: Preprocessed) -> None:
    """ValueError unless the arrays are what preprocessing writes: consistent shapes, uint8
    frames, finite depth >= 0 with some > 0, a finite pinhole K, finite rigid poses, fps > 0.
    A bad entry would otherwise fail every later run far from here, never naming the cache."""
    f, d, K, c2w, far = pre.frames, pre.depth, pre.K, pre.c2w, pre.far
    T = len(f)
    if f.ndim != 4 or f.shape[-1] != 3 or d.shape != f.shape[:3] or c2w.shape != (T, 4, 4) or K.shape != (3, 3):
        raise ValueError(f"inconsistent shapes: frames {f.shape}, depth {d.shape}, c2w {c2w.shape}, K {K.shape}")
    if T < 1 or f.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 with at least one frame, got {f.dtype} {f.shape}")
    if far is not None and (far.dtype != np.bool_ or far.shape != d.shape):
        raise ValueError(f"far mask {far.dtype} {far.shape} does not match the depth {d.shape}")
    if d.dtype.kind != "f" or not np.isfinite(d).all():
        raise ValueError(f"depth has {int((~np.isfinite(d)).sum()) if d.dtype.kind == 'f' else d.size} "
                         f"non-finite values (dtype {d.dtype})")
    if (d < 0).any() or not (d > 0).any():
        raise ValueError(f"depth must be >= 0 with some valid (> 0) values, min {d.min():.4g} max {d.max():.4g}")
    if K.dtype.kind != "f" or not np.isfinite(K).all() or not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"K is not a finite pinhole matrix with fx, fy > 0: {K.tolist()}")
    if c2w.dtype.kind != "f" or not np.isfinite(c2w).all():
        raise ValueError("c2w poses contain non-finite values")
    R = c2w[:, :3, :3]
    err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max(axis=(1, 2))
    bottom = np.abs(c2w[:, 3] - [0, 0, 0, 1]).max(axis=1)
    bad = np.flatnonzero((err > 1e-4) | (np.linalg.det(R) < 0) | (bottom > 1e-9))
    if len(bad):
        raise ValueError(f"c2w[{int(bad[0])}] is not a rigid pose (rotation orthonormal with det +1, last row "
                         f"[0, 0, 0, 1]); {len(bad)} of {T} poses are not")
    if not (np.isfinite(pre.fps) and pre.fps > 0):
        raise ValueError(f"fps must be a finite number > 0, got {pre.fps}")


def save_entry(key: str, pre: Preprocessed, extra: dict[str, Any] | None = None) -> Path:
    """Write an entry atomically (whole or not at all); returns its folder. When another
    process finished the same entry first, theirs is kept (same key, same content)."""
    final = _worlds() / key
    with atomic_dir(final, keep_existing=True) as tmp:
        far = {} if pre.far is None else {"far": np.asarray(pre.far, dtype=bool)}
        np.savez(tmp / "geometry.npz", frames=pre.frames, depth=pre.depth, K=pre.K, c2w=pre.c2w,
                 fps=np.float64(pre.fps), **far)
        report = {**pre.report, **(extra or {}), "key": key, "created": time.time()}
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=_json_default))
    return final


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def preprocessed(path: str | Path, settings: PreprocessSettings = PreprocessSettings(),
                 progress: bool = True, pattern: str | None = None) -> tuple[Preprocessed, bool]:
    """The preprocessed video from the cache, or computed and stored; (result, cache hit).

    The result is returned even when it is not stored: SfM could not run here (the next run
    retries), or the cache folder cannot be written (full, read-only); a CacheWarning says why."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {str(path)!r}")
    if not path.is_dir():
        check_regular_file(path, "video")
    key = entry_key(path, settings, pattern)
    hit = load_entry(key)
    if hit is not None:
        return hit, True
    pre = preprocess_video(path, settings, progress=progress, pattern=pattern)
    unavailable = pre.report.get("sfm_unavailable")
    if unavailable:
        warnings.warn(f"not caching the preprocessed {path.name!r}: SfM could not run here ({unavailable}), so "
                      "this run uses the ground-plane prior and the next run retries SfM", CacheWarning, stacklevel=2)
        return pre, False
    try:
        save_entry(key, pre, {"video_name": path.name})
    except OSError as e:  # the result is good; only keeping it failed
        warnings.warn(f"could not write the cache entry for {path.name!r} into {str(_worlds())!r}: {e}; the "
                      "result is used but not cached (set INSPATIO_GYM_CACHE to a writable folder)", CacheWarning,
                      stacklevel=2)
    return pre, False


def list_entries() -> list[dict[str, Any]]:
    """One dict per complete entry: key, video, frames, fallback, size in bytes, created."""
    root = _worlds()
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if is_temporary(d) or not d.is_dir():
            continue
        try:
            rep = json.loads((d / "report.json").read_text())
        except (OSError, ValueError):
            rep = {}
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        out.append({"key": d.name, "video": rep.get("video", "?"), "frames": rep.get("frames"),
                    "fallback": rep.get("fallback"), "bytes": size, "created": rep.get("created"),
                    "seconds": rep.get("seconds")})
    return out


def clear_entries(keys: list[str] | None = None) -> int:
    """Remove the given entries (all, and any leftover temporary folders, when None); returns how many."""
    root = _worlds()
    if not root.is_dir():
        return 0
    n = 0
    for d in list(root.iterdir()):
        if keys is None or d.name in keys:
            shutil.rmtree(d, ignore_errors=True)
            n += 0 if is_temporary(d) else 1
    return n
