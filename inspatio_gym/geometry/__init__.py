"""Cameras, trajectories and the forward-splatting warp.

The warp's names load on first use (module ``__getattr__``): the warp imports numba, which
code that needs only the camera conventions should not pay for.
"""

from typing import Any

from .camera import (
    intrinsics_from_fov,
    invert_pose,
    make_pose,
    plucker_rays,
    rot_x,
    rot_y,
    rot_z,
    rotation_to_quaternion,
    scale_intrinsics,
    unproject,
)
from .trajectory import Trajectory, load_trajectory, parse_trajectory, trajectory_poses

_WARP = ("WarpResult", "forward_warp")

__all__ = [
    "intrinsics_from_fov",
    "invert_pose",
    "make_pose",
    "plucker_rays",
    "rot_x",
    "rot_y",
    "rot_z",
    "rotation_to_quaternion",
    "scale_intrinsics",
    "unproject",
    "Trajectory",
    "load_trajectory",
    "parse_trajectory",
    "trajectory_poses",
    "WarpResult",
    "forward_warp",
]


def __getattr__(name: str) -> Any:
    if name not in _WARP:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import warp

    value = globals()[name] = getattr(warp, name)
    return value
