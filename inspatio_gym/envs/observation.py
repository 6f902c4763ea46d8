"""Observations and infos of a batch of lanes, shared by the single and the vector env."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from ..geometry.camera import invert_pose, rotation_to_quaternion
from .core import SessionBatch, StepResult

__all__ = ["OBS_MODES", "ObservationBuilder"]

OBS_MODES = ("rgb", "dict")


class ObservationBuilder:
    """Turns a StepResult into per-lane observations of the chosen mode.

    rgb: (H, W, 3) uint8. dict: rgb; depth (H, W, 1) uint8 = z-depth / (depth_range x scale);
    mask (H, W, 1) uint8 (255 = covered); pose (7,) float32 = position / scale and quaternion
    wxyz relative to the start pose; time (1,) float32 in [0, 1] along the reference video.
    """

    def __init__(self, obs_mode: str, height: int, width: int, depth_range: float) -> None:
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; expected one of {OBS_MODES}")
        self.mode = obs_mode
        self.depth_range = depth_range
        rgb = spaces.Box(0, 255, (height, width, 3), np.uint8)
        if obs_mode == "rgb":
            self.space: spaces.Space = rgb
        else:
            self.space = spaces.Dict(
                {
                    "rgb": rgb,
                    "depth": spaces.Box(0, 255, (height, width, 1), np.uint8),
                    "mask": spaces.Box(0, 255, (height, width, 1), np.uint8),
                    "pose": spaces.Box(-np.inf, np.inf, (7,), np.float32),
                    "time": spaces.Box(0.0, 1.0, (1,), np.float32),
                }
            )

    def batch(self, core: SessionBatch, r: StepResult, lanes: np.ndarray) -> Any:
        """Observations of `lanes`: an array [n, ...] or a dict of such arrays."""
        rgb = r.view.rgb[lanes].copy()
        if self.mode == "rgb":
            return rgb
        scale = np.array([core.worlds[i].scale for i in lanes])
        T = core.frames_total[lanes]
        d = r.view.depth[lanes] / (self.depth_range * scale)[:, None, None]
        rel = invert_pose(core.rig.anchor[lanes]) @ r.c2w[lanes]
        quat = np.stack([rotation_to_quaternion(R) for R in rel[:, :3, :3]])
        pose = np.concatenate([rel[:, :3, 3] / scale[:, None], quat], axis=1).astype(np.float32)
        return {
            "rgb": rgb,
            "depth": (np.clip(d, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None],
            "mask": (r.view.mask[lanes].astype(np.uint8) * 255)[..., None],
            "pose": pose,
            "time": (r.frame[lanes] / np.maximum(T - 1, 1)).astype(np.float32)[:, None],
        }

    @staticmethod
    def info(r: StepResult, lane: int) -> dict[str, Any]:
        return {
            "pose": r.c2w[lane].copy(),
            "frame": int(r.frame[lane]),
            "collided": bool(r.collided[lane]),
            "leashed": bool(r.leashed[lane]),
            "coverage": float(r.view.mask[lane].mean()),
        }

    @staticmethod
    def lane(obs: Any, i: int) -> Any:
        """One lane's observation out of a batch."""
        if isinstance(obs, dict):
            return {k: v[i] for k, v in obs.items()}
        return obs[i]
