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
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_dir, is_temporary
from ..io.video import list_images
from .preprocess import Preprocessed, PreprocessSettings, preprocess_video

__all__ = ["cache_root", "content_hash", "entry_key", "load_entry", "save_entry", "preprocessed",
           "list_entries", "clear_entries", "CacheWarning"]

_ARRAYS = ("frames", "depth", "K", "c2w")


class CacheWarning(UserWarning):
    """A cache entry could not be read and was discarded."""


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
        T = len(pre.frames)
        if pre.frames.ndim != 4 or pre.depth.shape != pre.frames.shape[:3] or pre.c2w.shape != (T, 4, 4):
            raise ValueError(f"inconsistent shapes {pre.frames.shape}, {pre.depth.shape}, {pre.c2w.shape}")
        if far is not None and (far.dtype != np.bool_ or far.shape != pre.depth.shape):
            raise ValueError(f"far mask {far.dtype} {far.shape} does not match the depth {pre.depth.shape}")
        return pre
    except Exception as e:  # noqa: BLE001 - any damage means: rebuild
        warnings.warn(f"discarding damaged cache entry {str(d)!r}: {e}", CacheWarning, stacklevel=2)
        shutil.rmtree(d, ignore_errors=True)
        return None


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
    """The preprocessed video from the cache, or computed and stored; (result, cache hit)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {str(path)!r}")
    key = entry_key(path, settings, pattern)
    hit = load_entry(key)
    if hit is not None:
        return hit, True
    pre = preprocess_video(path, settings, progress=progress, pattern=pattern)
    save_entry(key, pre, {"video_name": path.name})
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
