"""Episodes of a batch of lanes: the cameras, the task and the observation, stepped together.

The one place where a step becomes (observation, reward, terminated, truncated, info), and
the one place a time limit truncates: WorldEnv is its batch of one, WorldVectorEnv its batch
of N (adding autoreset), the PettingZoo env its batch of agents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from ..control.coverage import COVERAGE_OFFSETS
from ..tasks import Task
from .cameras import CameraBatch, StepResult
from .observation import ObservationBuilder, with_fields
from .options import EnvOptions

__all__ = ["Episodes", "Transition", "lane_info", "make_episodes"]


class Transition:
    """Batched results of one step (or reset) of all lanes."""

    __slots__ = ("obs", "reward", "terminated", "truncated", "info", "result")

    def __init__(self, obs: Any, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                 info: dict[str, np.ndarray], result: StepResult) -> None:
        self.obs, self.reward, self.terminated, self.truncated = obs, reward, terminated, truncated
        self.info, self.result = info, result


class Episodes:
    """max_episode_steps: truncation after that many steps of a lane's episode (None: none),
    as gym.make's TimeLimit; the end of the video truncates in time mode "play"."""

    def __init__(self, core: CameraBatch, task: Task, observations: ObservationBuilder,
                 max_episode_steps: int | None = None) -> None:
        self.core, self.task, self.observations = core, task, observations
        self.n = core.n
        self.max_episode_steps = max_episode_steps
        self.elapsed = np.zeros(self.n, dtype=np.int64)
        task.allocate(self.n)
        H, W = core.worlds[0].height, core.worlds[0].width
        extra = task.extra_spaces(H, W)
        self.space = with_fields(observations.space, extra)
        self.dict_obs = isinstance(self.space, spaces.Dict)
        self._legacy_info: dict[str, np.ndarray] | None = None
        self._no_fields = not extra

    def _obs(self, result: StepResult) -> Any:
        obs = self.observations.batch(self.core, result)
        if self._no_fields:
            return obs
        fields = self.task.observe(self.core, result, self.core.all_lanes)
        if not isinstance(obs, dict):
            obs = {"rgb": obs}
        return {**obs, **fields}

    def _info(self, result: StepResult) -> dict[str, np.ndarray]:
        info: dict[str, np.ndarray] = {
            "pose": result.c2w.copy(),  # the rig's own array: a wrapper may edit the info
            "frame": result.frame,
            "collided": result.collided,
            "leashed": result.leashed,
            "blocked": result.blocked_by().copy(),  # "collision", "leash", "coverage" or ""
            # the rendered view's covered fraction, and the coverage floor's estimate of it
            "coverage": np.count_nonzero(result.view.mask.reshape(self.n, -1), axis=1) / result.view.mask[0].size,
            "coverage_estimate": (np.full(self.n, np.nan) if result.coverage_estimate is None
                                  else result.coverage_estimate.copy()),
        }
        info.update(self.task.info(self.core, result))
        if self._legacy_info is not None:
            info.update(self._legacy_info)
        return info

    def reset(self, lanes: np.ndarray, start: np.ndarray, rngs: list[np.random.Generator],
              offsets: np.ndarray | None = None) -> Transition:
        """Reset lanes (seeded from their RNGs); observations of all lanes are returned,
        valid for the reset lanes."""
        saved = [rngs[i].bit_generator.state for i in lanes]
        seeds = np.array([int(rngs[i].integers(2**31 - 1)) for i in lanes], dtype=np.int64)
        try:
            r = self.core.reset(lanes, start, seeds, offsets)
            self.task.reset(self.core, lanes, rngs, r)
        except BaseException:  # the RNGs as they were, so a retry is the same reset (the core's
            for i, state in zip(lanes, saved):  # reset is all-or-nothing, and a retry redoes it whole)
                rngs[i].bit_generator.state = state
            raise
        self.elapsed[lanes] = 0
        if self._legacy_info is not None:  # a 0.1-API task (seen at its first step): info from step(), as before
            self._legacy_info = _legacy_task_info(self.task, self.task.step(self.core, r, np.zeros(self.n, bool))[2])
        n = self.n
        return Transition(self._obs(r), np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), self._info(r), r)

    def step(self, actions: Any, active: np.ndarray | None = None) -> Transition:
        """One step of the active lanes (default: all); inactive lanes are not moved or scored."""
        r = self.core.step(actions, active)
        return self._finish(r, np.ones(self.n, bool) if active is None else active)

    def step_to(self, c2w: np.ndarray) -> Transition:
        """One step of every lane to explicit poses [N,4,4]."""
        return self._finish(self.core.step_to(c2w), np.ones(self.n, bool))

    def _finish(self, r: StepResult, active: np.ndarray) -> Transition:
        out = self.task.step(self.core, r, active)
        reward, terminated = out[0], out[1]
        if len(out) == 3:  # a task written for the 0.1 API: (reward, terminated, info) from step()
            self._legacy_info = _legacy_task_info(self.task, out[2])
        elapsed = self.elapsed + active
        terminated = terminated & active
        truncated = r.end_of_video & active & ~terminated
        if self.max_episode_steps is not None:  # as gym.make's TimeLimit: also on a terminating step
            truncated |= active & (elapsed >= self.max_episode_steps)
        tr = Transition(self._obs(r), reward, terminated, truncated, self._info(r), r)
        self.elapsed = elapsed  # last: a failure above leaves the count as it was
        return tr


def make_episodes(options: EnvOptions, worlds: list, max_episode_steps: int | None = None,
                  separation: float = 0.0) -> Episodes:
    """The cameras on these worlds, a fresh task and the observation builder."""
    backend = options.backend
    renderer = getattr(backend, "renderer", None)  # the warp backend's: goal images look as the agent sees
    if renderer is None:
        from ..render.warp import WarpRenderer

        renderer = WarpRenderer()
    core = CameraBatch(worlds, backend, options.control, options.action_mode, options.time_mode,
                       render=renderer.render, separation=separation,
                       coverage_offsets=getattr(renderer, "offsets", COVERAGE_OFFSETS))
    return Episodes(core, options.new_task(), options.observations, max_episode_steps)


def _legacy_task_info(task: Task, info: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import warnings

    if not getattr(task, "_warned_legacy", False):
        warnings.warn(f"{type(task).__name__}.step() returns (reward, terminated, info): since 0.2 it returns "
                      "(reward, terminated) and info fields come from Task.info()", DeprecationWarning, stacklevel=3)
        try:
            task._warned_legacy = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return info


def lane_info(info: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """One lane's info out of a batch, in plain Python types (arrays copied)."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        x = v[i]
        out[k] = x.item() if np.ndim(x) == 0 else x.copy()
    return out
