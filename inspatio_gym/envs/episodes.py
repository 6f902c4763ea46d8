"""Episodes of a batch of lanes: the core, the task and the observation, stepped together.

The one place where a step becomes (observation, reward, terminated, truncated, info):
WorldEnv is its batch of one, WorldVectorEnv its batch of N (adding autoreset and time
limits), the PettingZoo env its batch of agents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from ..tasks import Task
from .core import SessionBatch, StepResult
from .observation import ObservationBuilder

__all__ = ["Episodes", "Transition", "INFO_KEYS"]

INFO_KEYS = ("pose", "frame", "collided", "leashed", "coverage")


class Transition:
    """Batched results of one step (or reset) of all lanes."""

    def __init__(self, obs: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                 info: dict[str, np.ndarray], result: StepResult) -> None:
        self.obs, self.reward, self.terminated, self.truncated = obs, reward, terminated, truncated
        self.info, self.result = info, result


class Episodes:
    def __init__(self, core: SessionBatch, task: Task, observations: ObservationBuilder) -> None:
        self.core, self.task, self.observations = core, task, observations
        self.n = core.n
        task.allocate(self.n)
        H, W = core.worlds[0].height, core.worlds[0].width
        extra = task.extra_spaces(H, W)
        base = observations.space
        if extra:  # a task's fields make the observation a Dict (rgb stays under "rgb")
            fields = dict(base.spaces) if isinstance(base, spaces.Dict) else {"rgb": base}
            self.space: spaces.Space = spaces.Dict({**fields, **extra})
        else:
            self.space = base
        self.dict_obs = isinstance(self.space, spaces.Dict)

    def _obs(self, result: StepResult, lanes: np.ndarray) -> Any:
        obs = self.observations.batch(self.core, result, lanes)
        fields = self.task.observe(self.core, result, lanes)
        if not self.dict_obs:
            return obs
        if not isinstance(obs, dict):
            obs = {"rgb": obs}
        return {**obs, **fields}

    def _info(self, result: StepResult, extra: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = self.n
        info: dict[str, np.ndarray] = {
            "pose": result.c2w.copy(),
            "frame": result.frame.astype(np.int64),
            "collided": result.collided.copy(),
            "leashed": result.leashed.copy(),
            "coverage": result.view.mask.reshape(n, -1).mean(axis=1),
        }
        info.update(extra)
        return info

    def reset(self, lanes: np.ndarray, start: np.ndarray, rngs: list[np.random.Generator],
              offsets: np.ndarray | None = None) -> Transition:
        """Reset lanes (seeded from their RNGs); observations of all lanes are returned,
        valid for the reset lanes."""
        seeds = np.array([int(rngs[i].integers(2**31 - 1)) for i in lanes], dtype=np.int64)
        r = self.core.reset(lanes, start, seeds, offsets)
        self.task.reset(self.core, lanes, rngs, r)
        n = self.n
        _, _, extra = self.task.step(self.core, r, np.zeros(n, bool))  # info fields only, no reward
        return Transition(self._obs(r, np.arange(n)), np.zeros(n), np.zeros(n, bool), np.zeros(n, bool),
                          self._info(r, extra), r)

    def step(self, actions: Any, active: np.ndarray | None = None) -> Transition:
        n = self.n
        act = np.ones(n, bool) if active is None else active
        r = self.core.step(actions, act)
        reward, terminated, extra = self.task.step(self.core, r, act)
        truncated = r.end_of_video & act & ~terminated
        return Transition(self._obs(r, np.arange(n)), reward, terminated & act, truncated, self._info(r, extra), r)

    def step_to(self, c2w: np.ndarray) -> Transition:
        n = self.n
        r = self.core.step_to(c2w)
        act = np.ones(n, bool)
        reward, terminated, extra = self.task.step(self.core, r, act)
        truncated = r.end_of_video & ~terminated
        return Transition(self._obs(r, np.arange(n)), reward, terminated, truncated, self._info(r, extra), r)

    @staticmethod
    def lane_info(info: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in info.items():
            x = v[i]
            out[k] = x.item() if np.ndim(x) == 0 else x.copy()
        return out
