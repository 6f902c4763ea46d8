"""Worlds shared in memory: envs on the same source and settings get the same object.

Sharing matters beyond memory: a backend prepares each world once (the generator encodes
the reference into its cache) and every session on it reuses that work. A world's canonical
geometry (sources.load.attach_geometry) comes through the same cache, so envs at 128 and
256 px on one source share one canonical world, and it is the 64 px env's world itself.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .reference import ReferenceWorld
from .sources import is_procedural_spec
from .sources.load import attach_geometry, build_world

__all__ = ["get_world", "clear_world_cache"]

_CACHE: "OrderedDict[tuple, ReferenceWorld]" = OrderedDict()
_MAX_WORLDS = 8


def _file_identity(p: Path) -> tuple:
    """A file or folder by resolved path, modification time and size (content changes show)."""
    st = os.stat(p)
    if p.is_dir():
        entries = sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(p) if e.is_file())
        return (str(p.resolve()), st.st_mtime_ns, hash(tuple(entries)))
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def _key(source: Any, width: int, height: int, options: dict[str, Any]) -> tuple | None:
    """A hashable identity of the request, or None when it cannot be cached safely."""
    if any(isinstance(v, np.ndarray) for v in options.values()):
        return None
    if isinstance(source, Path) or (isinstance(source, str) and not is_procedural_spec(source)):
        if not Path(source).exists():
            return None
        src: Any = _file_identity(Path(source))
    elif source is None or isinstance(source, str):
        src = source
    else:
        return None
    opts = []
    for k, v in sorted(options.items()):
        if k == "depth" and isinstance(v, (str, Path)):
            if not Path(v).exists():
                return None
            v = _file_identity(Path(v))
        elif not isinstance(v, (int, float, str, bool, type(None))):
            return None
        opts.append((k, v))
    return (src, width, height, tuple(opts))


def get_world(source: Any, width: int, height: int, **options: Any) -> ReferenceWorld:
    """load_world with an in-memory LRU of the last few worlds (canonical ones included)."""
    key = _key(source, width, height, options)
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    world = attach_geometry(build_world(source, width, height, **options), source, options, build=get_world)
    if key is not None:
        _CACHE[key] = world
        while len(_CACHE) > _MAX_WORLDS:
            _CACHE.popitem(last=False)
    return world


def clear_world_cache() -> None:
    _CACHE.clear()
