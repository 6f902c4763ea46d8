"""One entry point for every source a world can come from, with its options checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..reference import ReferenceWorld
from .procedural import is_procedural_spec, parse_procedural_spec, procedural_world
from .video import video_world

__all__ = ["load_world"]

_PROCEDURAL_OPTIONS = {"num_frames", "fov", "fps", "supersample", "seed", "kind", "path"}
_VIDEO_OPTIONS = {"stride", "max_frames", "depth", "c2w", "K", "fov", "fps", "pattern", "geometry", "progress",
                  "preprocess"}


def load_world(source: Any = None, width: int = 64, height: int = 64, **options: Any) -> ReferenceWorld:
    """Any supported source: None (the default procedural world), a ReferenceWorld, a
    "procedural:..." string (e.g. "procedural:seed=3,path=dolly,kind=room"), or a path
    (str or Path) to a video file or an image folder. options go to the matching builder."""
    if isinstance(source, ReferenceWorld):
        if (source.width, source.height) != (width, height):
            raise ValueError(
                f"world {source.name!r} is {source.width}x{source.height} but the env wants {width}x{height}"
            )
        return source
    if source is None or is_procedural_spec(source):
        kw = parse_procedural_spec(source) if source else {}
        bad = set(options) - _PROCEDURAL_OPTIONS
        if bad:
            raise ValueError(f"unknown option(s) {sorted(bad)} for a procedural world "
                             f"(allowed: {sorted(_PROCEDURAL_OPTIONS)})")
        return procedural_world(width=width, height=height, **{**options, **kw})
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"video not found: {str(source)!r}")
        bad = set(options) - _VIDEO_OPTIONS
        if bad:
            raise ValueError(f"unknown option(s) {sorted(bad)} for a video world (allowed: {sorted(_VIDEO_OPTIONS)})")
        return video_world(p, width, height, **options)
    raise TypeError(f"cannot build a world from {type(source).__name__}: {source!r}")
