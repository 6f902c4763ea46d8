"""Gymnasium environments over the batched session core."""

from .core import TIME_MODES, SessionBatch
from .world_env import OBS_MODES, WorldEnv

__all__ = ["OBS_MODES", "TIME_MODES", "SessionBatch", "WorldEnv"]
