"""inspatio_gym: one reference video becomes an interactive Gymnasium world.

    >>> import gymnasium as gym, inspatio_gym
    >>> env = gym.make("InspatioWorld-v0")            # the embedded procedural room
    >>> env = gym.make("InspatioWorld-v0", video="clip.mp4")  # doctest: +SKIP
"""

from __future__ import annotations

from .backends import Backend, View, WarpBackend, make_backend
from .control import ControlConfig
from .envs import SessionBatch, WorldEnv
from .envs.multi_agent import MultiAgentWorldEnv, parallel_env
from .envs.vector_env import WorldVectorEnv
from .geometry import forward_warp, load_trajectory, trajectory_poses
from .recon import NoParallaxWarning, PreprocessSettings, load_geometry_dir, preprocess_video, preprocessed
from .registration import register_envs
from .scenes import ProceduralScene, make_scene
from .world import ReferenceWorld, array_world, load_world, procedural_world, video_world

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "ControlConfig",
    "ProceduralScene",
    "ReferenceWorld",
    "SessionBatch",
    "View",
    "WarpBackend",
    "WorldEnv",
    "WorldVectorEnv",
    "MultiAgentWorldEnv",
    "NoParallaxWarning",
    "PreprocessSettings",
    "parallel_env",
    "array_world",
    "forward_warp",
    "load_geometry_dir",
    "load_trajectory",
    "load_world",
    "make_backend",
    "make_scene",
    "preprocess_video",
    "preprocessed",
    "procedural_world",
    "register_envs",
    "trajectory_poses",
    "video_world",
    "__version__",
]

ENV_IDS = register_envs()
