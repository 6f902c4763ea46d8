"""Building reference worlds from each kind of source, one module per kind.

procedural (a rendered scene, exact geometry), arrays (frames and the caller's geometry,
or the plane prior), seven_scenes (measured depth and poses), video (a file or an image
folder, with geometry from the user, from recon: reconstructed, or the plane prior), and
load (one entry point that dispatches by source, and attaches the same source built at
the canonical size: scale and collision come from it). fit moves source-resolution arrays
to the env's frames.
"""

from .arrays import array_world, load_geometry_file
from .load import load_world
from .procedural import is_procedural_spec, procedural_world
from .seven_scenes import seven_scenes_world
from .video import video_world

__all__ = [
    "array_world",
    "is_procedural_spec",
    "load_geometry_file",
    "load_world",
    "procedural_world",
    "seven_scenes_world",
    "video_world",
]
