"""Cameras, trajectories and the forward-splatting warp."""

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
from .warp import WarpResult, forward_warp

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
