"""Backends turn camera poses into observations: warp (geometry alone) and STAR (the trained generator)."""

from __future__ import annotations

from typing import Any

from .base import Backend, View
from .warp import WarpBackend

__all__ = ["BACKENDS", "Backend", "View", "WarpBackend", "make_backend"]


BACKENDS = ("warp", "star")


def make_backend(name: str | Backend, **options: Any) -> Backend:
    """A backend by name ("warp", "star"), or the instance itself."""
    if isinstance(name, Backend):
        if options:
            raise ValueError(f"backend options {sorted(options)} given with a backend instance")
        return name
    if name == "warp":
        return WarpBackend(**options)
    if name == "star":
        from .star import StarBackend  # the model is imported only when asked for

        return StarBackend(**options)
    raise ValueError(f"unknown backend {name!r}; available: {list(BACKENDS)}")
