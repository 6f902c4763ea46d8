"""Ray RLlib (new API stack): InspatioWorld envs as RLlib env creators.

    from inspatio_gym.integrations import rllib
    name = rllib.register()                      # "inspatio_world"
    config = (PPOConfig().environment(name, env_config={"id": "InspatioWorld-PointNav-v0", "world": ...})
              .env_runners(num_env_runners=2, num_envs_per_env_runner=8,
                           gym_env_vectorize_mode="vector_entry_point"))

env_config holds ``id`` (any InspatioWorld id; default "InspatioWorld-v0") and that env's
keyword arguments. With ``gym_env_vectorize_mode="vector_entry_point"`` RLlib asks the
creator for ``num_envs`` lanes at once and gets the natively batched WorldVectorEnv (one
batched backend call per step, not num_envs); otherwise one WorldEnv per call. The
multi-agent creator (register_multi_agent) wraps the PettingZoo env in RLlib's
ParallelPettingZooEnv. Worlds are built once per runner process: envs in one process share
them through the world registry, whatever the number of envs RLlib makes.

Each runner process is an env process on shared cores: unless env_config asks for
``threads`` (``backend_options={"threads": n}``), the creator keeps torch to one intra-op
thread there and the warp's lane threads to one (INSPATIO_GYM_THREADS, unless already set),
so N runners on N cores never oversubscribe.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import gymnasium as gym

__all__ = ["ENV_NAME", "MULTI_AGENT_ENV_NAME", "make_env", "make_multi_agent_env", "register",
           "register_multi_agent"]

ENV_NAME = "inspatio_world"
MULTI_AGENT_ENV_NAME = "inspatio_world_multi_agent"


def _split(env_config: Mapping[str, Any] | None) -> tuple[str, int | None, dict[str, Any]]:
    """(id, num_envs or None, the env's keyword arguments) from an RLlib env_config."""
    if env_config is not None and not isinstance(env_config, Mapping):
        raise TypeError(f"env_config must be a dict, got {type(env_config).__name__}: {env_config!r}")
    cfg = dict(env_config or {})
    env_id = cfg.pop("id", "InspatioWorld-v0")
    if not isinstance(env_id, str) or not env_id.startswith("Inspatio"):
        raise ValueError(f"env_config['id'] must be an inspatio_gym env id (gymnasium.registry), got {env_id!r}")
    if env_id not in gym.registry:
        known = sorted(k for k in gym.registry if k.startswith("Inspatio"))
        raise ValueError(f"unknown env id {env_id!r} in env_config; registered: {known}")
    num_envs = cfg.pop("num_envs", None)
    if num_envs is not None and (isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1):
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return env_id, num_envs, cfg


def _one_thread_unless_asked(kwargs: dict[str, Any]) -> None:
    """An env runner is one of several processes on the machine's cores: one torch thread
    and one lane thread each unless the config asks for more (the defaults, one per core,
    oversubscribe: benchmarks/bench_contention.py, bench_lane_threads.py)."""
    asked = kwargs.get("threads") or (kwargs.get("backend_options") or {}).get("threads")
    os.environ.setdefault("INSPATIO_GYM_THREADS", str(asked or 1))
    if asked is None:
        import torch

        torch.set_num_threads(1)


def make_env(env_config: Mapping[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """The RLlib env creator: a WorldVectorEnv of env_config["num_envs"] lanes when RLlib
    vectorizes through the entry point, else one WorldEnv."""
    env_id, num_envs, kwargs = _split(env_config)
    _one_thread_unless_asked(kwargs)
    if num_envs is None:
        return gym.make(env_id, **kwargs)
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def make_multi_agent_env(env_config: Mapping[str, Any] | None = None) -> Any:
    """The multi-agent creator: the PettingZoo env (keyword arguments from env_config; its
    ``id`` is ignored but must be valid) wrapped as RLlib's ParallelPettingZooEnv."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from ..envs.multi_agent import parallel_env

    _, num_envs, kwargs = _split(env_config)
    if num_envs not in (None, 1):
        raise ValueError(f"the multi-agent env is one env per creator call (num_envs=1), got num_envs={num_envs}")
    _one_thread_unless_asked(kwargs)
    return ParallelPettingZooEnv(parallel_env(**kwargs))


def register(name: str = ENV_NAME) -> str:
    """Register make_env with Ray under `name` (call it on the driver); returns the name."""
    from ray.tune.registry import register_env

    register_env(name, make_env)
    return name


def register_multi_agent(name: str = MULTI_AGENT_ENV_NAME) -> str:
    """Register make_multi_agent_env with Ray under `name`; returns the name."""
    from ray.tune.registry import register_env

    register_env(name, make_multi_agent_env)
    return name
