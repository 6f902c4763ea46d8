"""WorldVectorEnv: N camera sessions stepped together by the one batched core.

One batched constraint, one batched warp and one batched generator call per step, lanes
possibly on different worlds. Each lane behaves exactly like WorldEnv made with
gym.make under the same seed and actions (same per-lane RNG, same time limit), because
both are views of the same SessionBatch and ObservationBuilder.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..control.actions import action_space
from .core import StepResult
from .observation import ObservationBuilder
from .settings import WorldSettings

__all__ = ["WorldVectorEnv"]

RESET_OPTIONS = ("start_frame", "reset_mask")
INFO_KEYS = ("pose", "frame", "collided", "leashed", "coverage")


class WorldVectorEnv(VectorEnv):
    """A natively batched vector env over ``num_envs`` sessions.

    Takes WorldEnv's arguments; ``video=`` / ``world=`` may be lists (lane i gets source
    i mod len). ``autoreset_mode``: ``"next_step"`` (default, Gymnasium's) or
    ``"same_step"`` (the final observation and info go to ``info["final_obs"]`` /
    ``info["final_info"]``). ``max_episode_steps`` truncates as gym.make's TimeLimit does.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 12, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, (int, np.integer))
                                              or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        names = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
                 "disabled": AutoresetMode.DISABLED}
        key = autoreset_mode if isinstance(autoreset_mode, AutoresetMode) else str(autoreset_mode).lower()
        try:
            mode = key if isinstance(key, AutoresetMode) else names.get(key) or AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {autoreset_mode!r}") from None
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode {mode.value!r} is not supported; use 'next_step' or 'same_step'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}")
        self.settings = WorldSettings.from_kwargs(**kwargs)
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = mode
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "autoreset_mode": mode, "render_fps": self.settings.fps()}
        self.observations: ObservationBuilder = self.settings.observations
        self.single_observation_space = self.observations.space
        self.single_action_space = action_space(self.settings.action_mode, self.settings.control.vertical)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.worlds = self.settings.load_worlds(self.num_envs)
        self.core = self.settings.make_core(self.worlds)
        self.lane_rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self.elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self.autoreset = np.zeros(self.num_envs, dtype=bool)
        self._obs: Any = None
        self._started = False

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)  # type: ignore[arg-type]
            if len(seeds) != n:
                raise ValueError(f"seed list must have num_envs={n} entries, got {len(seeds)}")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict, got {type(options).__name__}: {options!r}")
        options = dict(options or {})
        bad = sorted(set(options) - set(RESET_OPTIONS))
        if bad:
            raise ValueError(f"unknown reset option(s) {bad}; known: {list(RESET_OPTIONS)}")
        mask = np.ones(n, bool) if "reset_mask" not in options else np.asarray(options["reset_mask"])
        if mask.dtype != np.bool_ or mask.shape != (n,) or not mask.any():
            raise ValueError(f"reset_mask must be a bool array of shape ({n},) with a True entry, got {mask!r}")
        if not self._started and not mask.all():
            raise ValueError("the first reset must reset every lane (no reset_mask)")
        start = np.broadcast_to(np.asarray(options.get("start_frame", 0)), (n,))
        if not np.issubdtype(start.dtype, np.integer):
            raise ValueError(f"start_frame must be an integer or one per lane, got {options['start_frame']!r}")
        for i in np.flatnonzero(mask):
            if seeds[i] is not None:
                self.lane_rngs[i], _ = seeding.np_random(int(seeds[i]))  # type: ignore[arg-type]
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        lanes = np.flatnonzero(mask)
        r = self._reset_lanes(lanes, start[lanes])
        self._started = True
        obs = self._merge_obs(lanes, r)
        return obs, self._infos(r)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("step() called before reset(): call reset() first")
        n = self.num_envs
        acts = list(actions) if self.settings.action_mode == "discrete" and not isinstance(actions, np.ndarray) \
            else actions
        if len(acts) != n:
            raise ValueError(f"expected {n} actions (one per lane), got {len(acts)}")
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and self.autoreset.any():
            active = ~self.autoreset
            reset_lanes = np.flatnonzero(self.autoreset)
            r = self.core.step(acts, active) if active.any() else None
            r_reset = self._reset_lanes(reset_lanes, np.zeros(len(reset_lanes), np.int64))
            result = r_reset if r is None else _merge_results(r, r_reset, reset_lanes)
            stepped = np.flatnonzero(active)
        else:
            result = self.core.step(acts)
            stepped = np.arange(n)
        self.elapsed[stepped] += 1
        truncated[stepped] = result.end_of_video[stepped]
        if self.max_episode_steps is not None:
            truncated[stepped] |= self.elapsed[stepped] >= self.max_episode_steps
        infos = self._infos(result)
        done = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            lanes = np.flatnonzero(done)
            final_obs = self.observations.batch(self.core, result, np.arange(n))
            final_info = self._infos(result)
            r_reset = self._reset_lanes(lanes, np.zeros(len(lanes), np.int64))
            result = _merge_results(result, r_reset, lanes)
            infos = self._infos(result)
            infos["final_obs"] = _object_rows(final_obs, lanes, n)
            infos["final_info"] = _object_rows_info(final_info, lanes, n)
            infos["_final_obs"] = done.copy()
            infos["_final_info"] = done.copy()
            self._obs = self.observations.batch(self.core, result, np.arange(n))
        else:
            self._obs = self.observations.batch(self.core, result, np.arange(n))
        self.autoreset = done if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(n, bool)
        self._last = result
        return _copy(self._obs), rewards, terminated, truncated, infos

    def render(self) -> np.ndarray | None:
        """The lanes' current views, [num_envs, H, W, 3]."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if not self._started:
            raise RuntimeError("render() called before reset()")
        return self._last.view.rgb.copy()

    # -- internals -------------------------------------------------------------------------
    def _reset_lanes(self, lanes: np.ndarray, start: np.ndarray) -> StepResult:
        seeds = np.array([int(self.lane_rngs[i].integers(2**31 - 1)) for i in lanes], dtype=np.int64)
        self.elapsed[lanes] = 0
        self.autoreset[lanes] = False
        r = self.core.reset(lanes, start, seeds)
        self._last = r
        return r

    def _merge_obs(self, lanes: np.ndarray, r: StepResult) -> Any:
        """Observations after a (possibly partial) reset: reset lanes new, others unchanged."""
        new = self.observations.batch(self.core, r, np.arange(self.num_envs))
        if self._obs is None or len(lanes) == self.num_envs:
            self._obs = new
        elif isinstance(new, dict):
            for k in new:
                self._obs[k][lanes] = new[k][lanes]
        else:
            self._obs[lanes] = new[lanes]
        return _copy(self._obs)

    def _infos(self, r: StepResult) -> dict[str, Any]:
        n = self.num_envs
        ones = np.ones(n, dtype=bool)
        info: dict[str, Any] = {
            "pose": r.c2w.copy(),
            "frame": r.frame.astype(np.int64),
            "collided": r.collided.copy(),
            "leashed": r.leashed.copy(),
            "coverage": r.view.mask.reshape(n, -1).mean(axis=1),
        }
        for k in INFO_KEYS:
            info[f"_{k}"] = ones.copy()
        return info


def _copy(obs: Any) -> Any:
    return {k: v.copy() for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()


def _merge_results(a: StepResult, b: StepResult, lanes: np.ndarray) -> StepResult:
    """a with the given lanes taken from b (the lanes that were reset in this step)."""
    v = a.view
    for name in ("rgb", "depth", "mask", "render"):
        getattr(v, name)[lanes] = getattr(b.view, name)[lanes]
    c2w, frame = a.c2w.copy(), a.frame.copy()
    c2w[lanes], frame[lanes] = b.c2w[lanes], b.frame[lanes]
    collided, leashed, end = a.collided.copy(), a.leashed.copy(), a.end_of_video.copy()
    collided[lanes] = leashed[lanes] = end[lanes] = False
    return StepResult(v, c2w, frame, collided, leashed, end)


def _object_rows(obs: Any, lanes: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in lanes:
        out[i] = ObservationBuilder.lane(obs, i).copy() if not isinstance(obs, dict) else \
            {k: v[i].copy() for k, v in obs.items()}
    return out


def _object_rows_info(info: dict[str, Any], lanes: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in lanes:
        out[i] = {k: (v[i].item() if np.ndim(v[i]) == 0 else v[i]) for k, v in info.items() if not k.startswith("_")}
    return out
