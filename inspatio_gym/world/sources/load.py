"""One entry point for every source a world can come from, with its options checked, and
the canonical geometry that makes scale and collision independent of the observation size."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

from ..reference import ReferenceWorld
from .fit import GeometrySizeError
from .procedural import is_procedural_spec, parse_procedural_spec, procedural_world
from .video import video_world

__all__ = ["CANONICAL_LONG_SIDE", "attach_geometry", "build_world", "canonical_size", "load_world"]

#: Long side (pixels) of the resolution scale and the collision cloud are computed at.
CANONICAL_LONG_SIDE = 64

_PROCEDURAL_OPTIONS = {"num_frames", "fov", "fps", "supersample", "seed", "kind", "path"}
_VIDEO_OPTIONS = {"stride", "max_frames", "depth", "c2w", "K", "fov", "fps", "pattern", "geometry", "progress",
                  "preprocess"}

Builder = Callable[..., ReferenceWorld]


def canonical_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) with CANONICAL_LONG_SIDE on the long side and the requested aspect: one size
    for every requested resolution of that aspect."""
    s = CANONICAL_LONG_SIDE / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def build_world(source: Any = None, width: int = 64, height: int = 64, **options: Any) -> ReferenceWorld:
    """The world of a source at one size, without canonical geometry (see load_world)."""
    if isinstance(source, ReferenceWorld):
        if (source.width, source.height) != (width, height):
            raise ValueError(
                f"world {source.name!r} is {source.width}x{source.height} but the env wants {width}x{height}"
            )
        return source
    if source is None or is_procedural_spec(source):
        kw = parse_procedural_spec(source) if source else {}
        twice = sorted(k for k in set(kw) & set(options) if kw[k] != options[k])
        if twice:  # the spec used to win silently
            raise ValueError(f"{', '.join(f'{k}={options[k]!r}' for k in twice)} in world_options contradicts "
                             f"the world spec {source!r}; give each option once")
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


def attach_geometry(world: ReferenceWorld, source: Any, options: dict[str, Any],
                    build: Builder = build_world) -> ReferenceWorld:
    """world with its source's canonical-size build attached (ReferenceWorld.canonical).

    A world given as such, one already at the canonical size or already carrying a
    canonical world stays as it is (its own geometry), and so does one whose per-pixel
    user arrays exist only at the requested size (they cannot be refitted). The rebuild's
    warnings were already given by the first build and are not repeated."""
    size = canonical_size(world.width, world.height)
    if isinstance(source, ReferenceWorld) or world.canonical is not None or size == (world.width, world.height):
        return world
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            canonical = build(source, *size, **options)
    except GeometrySizeError:
        world.meta["geometry"] = "own: user arrays at the requested size only"
        return world
    world.set_canonical(canonical)
    world.meta["geometry"] = f"canonical {size[0]}x{size[1]}"
    return world


def load_world(source: Any = None, width: int = 64, height: int = 64, **options: Any) -> ReferenceWorld:
    """Any supported source: None (the default procedural world), a ReferenceWorld, a
    "procedural:..." string (e.g. "procedural:seed=3,path=dolly,kind=room"), or a path
    (str or Path) to a video file or an image folder. options go to the matching builder.

    Built from a source, the world carries the same source at canonical_size(width, height)
    as its geometry (scale, collision), so the same actions give the same poses at any size."""
    return attach_geometry(build_world(source, width, height, **options), source, options)
