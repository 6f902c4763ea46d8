"""Procedural 3D worlds with exact ground truth (RGB, z-depth, poses, collision oracle).

See procedural.py for the camera / world conventions (OpenCV, world +y down).
"""

from .primitives import Primitive
from .procedural import PATH_KINDS, SCENE_KINDS, ProceduralScene, make_scene
from .textures import Material

__all__ = [
    "ProceduralScene",
    "make_scene",
    "Primitive",
    "Material",
    "PATH_KINDS",
    "SCENE_KINDS",
]
