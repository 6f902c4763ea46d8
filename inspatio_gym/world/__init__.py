"""Reference worlds: frames, depth, intrinsics and source poses, from any source."""

from .registry import clear_world_cache, get_world
from .reference import ReferenceWorld
from .depth_prior import DepthPriorWarning, NoParallaxWarning
from .sources import (array_world, load_geometry_file, load_world, procedural_world, seven_scenes_world,
                      video_world)
from ..io.video import VideoError, read_image_folder, read_video

__all__ = [
    "ReferenceWorld",
    "DepthPriorWarning",
    "NoParallaxWarning",
    "VideoError",
    "array_world",
    "clear_world_cache",
    "get_world",
    "load_geometry_file",
    "load_world",
    "procedural_world",
    "read_image_folder",
    "read_video",
    "seven_scenes_world",
    "video_world",
]
