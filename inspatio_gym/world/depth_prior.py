"""When a world's depth is a guess: the warnings that say so, and the guess for no depth at all.

The warnings are the world's: recon/ only records a fallback in its report (it sits below
world/ and never imports it), and the builders here warn when they make a world whose
depth is a prior, whether the geometry was just computed or read from the disk cache.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DepthPriorWarning", "NoParallaxWarning", "PLANE_PRIOR_DEPTH", "warn_plane_prior", "warn_no_parallax"]

#: Depth of the fronto-parallel plane assumed for videos that bring no depth (world units).
PLANE_PRIOR_DEPTH = 1.0


class DepthPriorWarning(UserWarning):
    """The world's depth is a guess: rotation is exact, translation parallax is not."""


class NoParallaxWarning(DepthPriorWarning):
    """The video gave no usable parallax: its depth is the ground-plane prior."""


def warn_plane_prior(name: str, stacklevel: int = 1) -> None:
    """A world given no depth: the fronto-parallel plane stands in for it.

    stacklevel counts from the caller, as warnings.warn's does."""
    warnings.warn(
        f"world {name!r} has no depth: using a fronto-parallel plane prior at depth {PLANE_PRIOR_DEPTH} "
        "(rotations are exact; translation parallax will be wrong). Pass depth= for real geometry.",
        DepthPriorWarning,
        stacklevel=stacklevel + 1,
    )


def warn_no_parallax(report: dict[str, Any], stacklevel: int = 1) -> None:
    """A preprocessed video that fell back to the ground-plane prior (recon's report says
    why, and where the poses came from).

    stacklevel counts from the caller, as warnings.warn's does."""
    camera = "rotations from homographies" if report.get("poses") == "homography_rotations" else "static"
    held = _ranges(report.get("rotation_held_frames") or [])
    if held:
        camera += f" (held at the last trusted rotation where tracking was lost: frames {held})"
    guessed = _ranges(report.get("guessed_frames") or [])
    warnings.warn(
        f"no usable parallax ({report.get('fallback_reason')}): depth is the ground-plane prior"
        f"{f' for frames {guessed}' if guessed else ''}, camera {camera}. Translation in this world is plausible, "
        "not measured; import depth made elsewhere for real geometry.",
        NoParallaxWarning,
        stacklevel=stacklevel + 1,
    )


def _ranges(frames: list) -> str:
    """'0-47, 60' from frame indices or [first, last] ranges (as recon's report lists them)."""
    parts = []
    for r in frames:
        a, b = (r, r) if isinstance(r, (int, float)) else (r[0], r[-1])
        parts.append(f"{int(a)}" if a == b else f"{int(a)}-{int(b)}")
    return ", ".join(parts)
