"""Several camera agents in one world: a PettingZoo ParallelEnv over the batched core.

All agents share one world, one reference cache and one batched backend call per step.
They start side by side at the source pose, keep a minimum distance from each other
(a move that would come closer is blocked and reported as a collision, ``info["blocked"]
== "collision"``; the coverage floor applies to each agent as to WorldEnv), and by default
explore cooperatively: every agent receives the team's newly observed fraction.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from .episodes import Transition, lane_info, make_episodes
from .observation import ObservationBuilder
from .options import EnvOptions

try:  # PettingZoo is optional: the package works without it
    from pettingzoo import ParallelEnv
except ImportError:  # pragma: no cover
    ParallelEnv = object  # type: ignore[misc,assignment]

__all__ = ["MultiAgentWorldEnv", "parallel_env"]


class MultiAgentWorldEnv(ParallelEnv):  # type: ignore[misc]
    """``num_agents`` cameras (``camera_0`` ...) in one world.

    Takes the options every env kind shares (``inspatio_gym.envs.options``) plus ``num_agents`` (2), ``separation`` (0.15 x scene scale),
    ``max_cycles`` (300 steps, then truncation) and ``task`` ("explore" by default, shared
    by the team; any task works per agent). The episode ends for all agents together.
    """

    metadata = {"name": "inspatio_multi_agent_v0", "render_modes": ["rgb_array"], "is_parallelizable": True,
                "render_fps": 12}

    def __init__(self, num_agents: int = 2, separation: float = 0.15, max_cycles: int = 300,
                 render_mode: str | None = None, task: Any = "explore", task_options: dict | None = None,
                 time_mode: str = "loop", **kwargs: Any) -> None:
        if isinstance(num_agents, bool) or not isinstance(num_agents, (int, np.integer)) or num_agents < 1:
            raise ValueError(f"num_agents must be a positive integer, got {num_agents!r}")
        if not (isinstance(separation, (int, float)) and separation >= 0):
            raise ValueError(f"separation must be a number >= 0, got {separation!r}")
        if isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer)) or max_cycles < 1:
            raise ValueError(f"max_cycles must be a positive integer, got {max_cycles!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}")
        if task == "explore":
            task_options = {"shared": True, **(task_options or {})}
        self.options = EnvOptions.parse(task=task, task_options=task_options, time_mode=time_mode, **kwargs)
        n = int(num_agents)
        self.possible_agents = [f"camera_{i}" for i in range(n)]
        self.agents: list[str] = []
        self.render_mode = render_mode
        max_cycles = int(max_cycles)
        self.separation = float(separation)
        worlds = self.options.load_worlds(1) * n  # one world object for every agent
        self.world = worlds[0]
        self.metadata = {**self.metadata, "render_fps": self.world.fps}
        self.episodes = make_episodes(self.options, worlds, max_episode_steps=max_cycles,
                                      separation=self.separation)
        self._obs_space = self.episodes.space
        H, W = self.world.height, self.world.width
        self.state_space = spaces.Box(0, 255, (n, H, W, 3), np.uint8)  # state(): all agents' views
        self._act_space = self.options.action_space()
        self._rngs = [seeding.np_random(None)[0] for _ in range(n)]
        self._last: Transition | None = None

    @property
    def max_cycles(self) -> int:
        """Steps until every agent is truncated (Episodes' time limit)."""
        return int(self.episodes.max_episode_steps)

    @max_cycles.setter
    def max_cycles(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"max_cycles must be a positive integer, got {value!r}")
        self.episodes.max_episode_steps = int(value)

    # -- PettingZoo API --------------------------------------------------------------------
    def observation_space(self, agent: str) -> Any:
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> Any:
        self._check_agent(agent)
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        n = len(self.possible_agents)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict, got {type(options).__name__}")
        bad = sorted(set(options or {}) - {"start_frame"})
        if bad:  # PettingZoo's conformance test passes arbitrary options: warn, do not fail
            warnings.warn(f"ignoring unknown reset option(s) {bad}; known: ['start_frame']", stacklevel=2)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
        start = (options or {}).get("start_frame", 0)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise ValueError(f"start_frame must be an integer, got {start!r}")
        start = int(start)
        if seed is not None:
            self._rngs = [seeding.np_random(int(seed) + i)[0] for i in range(n)]
        offsets = self._spawn_offsets(start)
        tr = self.episodes.reset(np.arange(n), np.full(n, start), self._rngs, offsets)
        self.agents = list(self.possible_agents)
        self._last = tr
        return self._per_agent_obs(tr), {a: lane_info(tr.info, i) for i, a in enumerate(self.agents)}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called with no live agents: call reset() first")
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict of agent name -> action, got {type(actions).__name__}: "
                            f"{actions!r}")
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self.possible_agents]
        if missing or unknown:
            raise ValueError(f"actions must name every live agent: missing {missing}, unknown {unknown}")
        acts = [actions[a] for a in self.possible_agents]
        tr = self.episodes.step(acts)
        self._last = tr
        ended = bool(tr.terminated.any() or tr.truncated.any())  # max_cycles truncates in Episodes
        obs = self._per_agent_obs(tr)
        rewards = {a: float(tr.reward[i]) for i, a in enumerate(self.agents)}
        terms = {a: bool(tr.terminated[i]) for i, a in enumerate(self.agents)}
        truncs = {a: bool(ended and not tr.terminated[i]) for i, a in enumerate(self.agents)}
        infos = {a: lane_info(tr.info, i) for i, a in enumerate(self.agents)}
        if ended:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> np.ndarray | None:
        """The agents' views side by side, [H, n W, 3]."""
        if self.render_mode is None or self._last is None:
            return None
        return np.concatenate(list(self._last.result.view.rgb), axis=1)

    def close(self) -> None:
        pass

    def state(self) -> np.ndarray:
        """All agents' current views, [n, H, W, 3] (for centralised critics)."""
        if self._last is None:
            raise RuntimeError("state() called before reset()")
        return self._last.result.view.rgb.copy()

    # -- internals -------------------------------------------------------------------------
    def _spawn_offsets(self, start: int) -> np.ndarray:
        """Side by side along the start camera's x axis, 1.1 x separation apart, each inside
        the leash and clear of the seen geometry; a clear error if they do not fit."""
        n = len(self.possible_agents)
        xs = (np.arange(n) - (n - 1) / 2) * 1.1 * self.separation
        offsets = np.stack([xs, np.zeros(n), np.zeros(n)], 1)
        core = self.episodes.core
        w = self.world
        if not 0 <= start < w.num_frames:
            raise ValueError(f"start_frame {start} out of range [0, {w.num_frames})")
        c2w = w.c2w[start]
        pos = c2w[:3, 3] + offsets @ c2w[:3, :3].T * w.scale
        obst = core.obstacles(0)
        cfg = core.control
        bad = (obst.path_distance(pos) > cfg.leash * w.scale) | (obst.clearance(pos) < cfg.collision_radius * w.scale)
        if bad.any():
            raise ValueError(f"{n} agents {self.separation} x scale apart do not fit at the start pose (leash "
                             f"{cfg.leash}, agents {np.flatnonzero(bad).tolist()} outside it or in the geometry): "
                             "use fewer agents or a smaller separation")
        return offsets

    def _per_agent_obs(self, tr: Transition) -> dict[str, Any]:
        return {a: ObservationBuilder.lane(tr.obs, i) for i, a in enumerate(self.possible_agents) if a in self.agents}

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")


def parallel_env(**kwargs: Any) -> MultiAgentWorldEnv:
    """PettingZoo's convention: ``inspatio_gym.parallel_env(num_agents=3, video="clip.mp4")``."""
    return MultiAgentWorldEnv(**kwargs)
