"""Gymnasium environments over the one batched core (envs.cameras + envs.episodes)."""

from .cameras import TIME_MODES, CameraBatch
from .options import EnvOptions
from .world_env import OBS_MODES, WorldEnv

__all__ = ["OBS_MODES", "TIME_MODES", "CameraBatch", "EnvOptions", "WorldEnv"]
