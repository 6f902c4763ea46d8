"""Observations and infos of a batch of lanes, shared by the single and the vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

import numpy as np
from gymnasium import spaces

from ..geometry.camera import invert_pose, rotation_to_quaternion
from .cameras import CameraBatch, StepResult

__all__ = ["OBS_MODES", "ObservationBuilder", "rendered", "with_fields"]

OBS_MODES = ("rgb", "dict")


class ObservationBuilder:
    """Turns a StepResult into per-lane observations of the chosen mode.

    rgb: (H, W, 3) uint8. dict: rgb; depth (H, W, 1) uint8 = z-depth / (depth_range x scale);
    mask (H, W, 1) uint8 (255 = covered); pose (7,) float32 = position / scale and quaternion
    wxyz relative to the start pose; time (1,) float32 in [0, 1] along the reference video.
    """

    def __init__(self, obs_mode: str, height: int, width: int, depth_range: float) -> None:
        """Arguments arrive validated (envs.options)."""
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

    def batch(self, core: CameraBatch, r: StepResult) -> Any:
        """Observations of every lane: an array [N, ...] or a dict of such arrays.

        The rgb is copied here, once: the observation a user keeps is never the backend's buffer.
        """
        rgb = r.view.rgb.copy()
        if self.mode == "rgb":
            return rgb
        scale = core.scales
        T = core.frames_total
        d = r.view.depth / (self.depth_range * scale)[:, None, None]
        rel = invert_pose(core.anchor) @ r.c2w
        quat = np.stack([rotation_to_quaternion(R) for R in rel[:, :3, :3]])
        pose = np.concatenate([rel[:, :3, 3] / scale[:, None], quat], axis=1).astype(np.float32)
        return {
            "rgb": rgb,
            "depth": (np.clip(d, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None],
            "mask": (r.view.mask.astype(np.uint8) * 255)[..., None],
            "pose": pose,
            "time": (r.frame / np.maximum(T - 1, 1)).astype(np.float32)[:, None],
        }

    @staticmethod
    def lane(obs: Any, i: int) -> Any:
        """One lane's observation out of a batch."""
        if isinstance(obs, dict):
            return {k: v[i] for k, v in obs.items()}
        return obs[i]


def with_fields(base: spaces.Space, extra: dict[str, spaces.Space]) -> spaces.Space:
    """The observation space with a task's fields: a Dict (rgb under "rgb") when there are any."""
    if not extra:
        return base
    fields = dict(base.spaces) if isinstance(base, spaces.Dict) else {"rgb": base}
    return spaces.Dict({**fields, **extra})


def rendered(render_mode: str | None, result: StepResult | None) -> np.ndarray | None:
    """render() of every env kind: the current views [N, H, W, 3], copied."""
    if render_mode is None:
        gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
        return None
    if result is None:
        raise RuntimeError("render() called before reset()")
    return result.view.rgb.copy()
