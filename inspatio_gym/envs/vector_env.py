"""WorldVectorEnv: N camera sessions stepped together by the one batched core.

One batched constraint, one batched warp and one batched generator call per step, lanes
possibly on different worlds. Each lane behaves exactly like WorldEnv made with
gym.make under the same seed and actions (same per-lane RNG, same time limit), because
both are views of the same Episodes (cameras, task, observations and time limit).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .cameras import StepResult
from .episodes import Transition, lane_info, make_episodes
from .observation import rendered
from .options import EnvOptions, reset_options

__all__ = ["WorldVectorEnv"]

RESET_OPTIONS = ("start_frame", "reset_mask")


class WorldVectorEnv(VectorEnv):
    """A natively batched vector env over ``num_envs`` sessions.

    Takes the options every env kind shares (``inspatio_gym.envs.options``); ``video=`` / ``world=`` may be lists (lane i gets source
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
        self.options = EnvOptions.parse(**kwargs)
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "autoreset_mode": mode, "render_fps": self.options.fps()}
        self.worlds = self.options.load_worlds(self.num_envs)
        self.episodes = make_episodes(self.options, self.worlds, max_episode_steps)
        self.core = self.episodes.core
        self.single_observation_space = self.episodes.space
        self.single_action_space = self.options.action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.lane_rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self.autoreset = np.zeros(self.num_envs, dtype=bool)
        self._obs: Any = None
        self._last: StepResult | None = None
        self._started = False

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed list must have num_envs={n} entries, got {len(seeds)}: {seed!r}")
            for i, s in enumerate(seeds):
                if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0):
                    raise ValueError(f"seed[{i}] must be an integer >= 0 or None, got {s!r}")
        else:
            raise ValueError(f"seed must be an integer >= 0, a list of num_envs={n} of them, or None, got {seed!r}")
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        options = reset_options(options, RESET_OPTIONS)
        mask = np.ones(n, bool) if "reset_mask" not in options else np.asarray(options["reset_mask"])
        if mask.dtype != np.bool_ or mask.shape != (n,) or not mask.any():
            raise ValueError(f"reset_mask must be a bool array of shape ({n},) with a True entry, got {mask!r}")
        if not self._started and not mask.all():
            raise ValueError("the first reset must reset every lane (no reset_mask)")
        given = options.get("start_frame", 0)
        start = np.asarray(given)
        if start.ndim > 1 or (start.ndim == 1 and start.shape != (n,)):
            raise ValueError(f"start_frame must be an integer or one per lane ({n}), got {given!r}")
        start = np.broadcast_to(start, (n,))
        if not np.issubdtype(start.dtype, np.integer):
            raise ValueError(f"start_frame must be an integer or one per lane, got {options['start_frame']!r}")
        for i in np.flatnonzero(mask):
            if seeds[i] is not None:
                self.lane_rngs[i], _ = seeding.np_random(int(seeds[i]))  # type: ignore[arg-type]
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        lanes = np.flatnonzero(mask)
        previous = self._last
        tr = self._reset_lanes(lanes, start[lanes])
        self._started = True
        if self._obs is None or mask.all():
            self._obs = tr.obs
        else:  # a partial reset: the other lanes keep their observation and view
            self._obs = _put_rows(self._obs, tr.obs, lanes)
            assert previous is not None
            self._last = _merge_results(previous, tr.result, lanes)
        infos = _with_masks(tr.info, n)
        for k in tr.info:
            infos[f"_{k}"] = mask.copy()  # only the reset lanes have new infos
        return _copy(self._obs), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("step() called before reset(): call reset() first")
        n = self.num_envs
        acts = list(actions) if self.options.action_mode == "discrete" and not isinstance(actions, np.ndarray) \
            else actions
        if len(acts) != n:
            raise ValueError(f"expected {n} actions (one per lane), got {len(acts)}")
        active = ~self.autoreset
        if self.autoreset.any():  # NEXT_STEP: lanes that ended last step are reset now instead
            lanes = np.flatnonzero(self.autoreset)
            # the reset first: each part is all-or-nothing on its own, and a failed step below
            # is undone by marking these lanes again (their RNGs put back: the same reset next time)
            rngs = [self.lane_rngs[i].bit_generator.state for i in lanes]
            last = self._last
            tr_reset = self._reset_lanes(lanes, np.zeros(len(lanes), np.int64))
            try:
                tr = self.episodes.step(acts, active) if active.any() else None
            except BaseException:
                self.autoreset[lanes] = True
                self._last = last
                for i, state in zip(lanes, rngs):
                    self.lane_rngs[i].bit_generator.state = state
                raise
            tr = tr_reset if tr is None else _merge(tr, tr_reset, lanes)
        else:
            tr = self.episodes.step(acts)
        reward = np.where(active, tr.reward, 0.0).astype(np.float64)
        terminated = tr.terminated & active
        truncated = tr.truncated & active  # the end of the video or max_episode_steps (Episodes)
        done = terminated | truncated
        infos = _with_masks(tr.info, n)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            lanes = np.flatnonzero(done)
            infos["final_obs"] = _object_rows(tr.obs, lanes, n)
            infos["final_info"] = _object_info(tr.info, lanes, n)
            infos["_final_obs"] = done.copy()
            infos["_final_info"] = done.copy()
            try:
                tr_reset = self._reset_lanes(lanes, np.zeros(len(lanes), np.int64))
            except BaseException as e:
                # the step itself is whole (every lane moved, scored and counted) and the failed
                # reset changed nothing: these lanes are reset first at the next step (as in
                # NEXT_STEP), with the same seeds, so nothing drifts; only this call's return is lost
                self._obs, self._last = tr.obs, tr.result
                self.autoreset[lanes] = True
                e.add_note(f"the step was applied; lanes {lanes.tolist()} ended and their autoreset failed: "
                           "the next step() resets them first (or call reset())")
                raise
            tr = _merge(tr, tr_reset, lanes)
            for k, v in _with_masks(tr.info, n).items():
                infos[k] = v
        else:
            self.autoreset = done if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(n, bool)
        self._obs = tr.obs
        self._last = tr.result
        return _copy(self._obs), reward, terminated, truncated, infos

    def render(self) -> np.ndarray | None:
        """The lanes' current views, [num_envs, H, W, 3]."""
        return rendered(self.render_mode, self._last)

    # -- internals -------------------------------------------------------------------------
    @property
    def max_episode_steps(self) -> int | None:
        """Truncation after this many steps (as gym.make's TimeLimit); Episodes applies it."""
        return self.episodes.max_episode_steps

    @max_episode_steps.setter
    def max_episode_steps(self, value: int | None) -> None:
        self.episodes.max_episode_steps = value

    @property
    def elapsed(self) -> np.ndarray:
        """[num_envs] steps into each lane's episode."""
        return self.episodes.elapsed

    def _reset_lanes(self, lanes: np.ndarray, start: np.ndarray) -> Transition:
        tr = self.episodes.reset(lanes, start, self.lane_rngs)
        self.autoreset[lanes] = False
        self._last = tr.result
        return tr


def _with_masks(info: dict[str, np.ndarray], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in info.items():
        out[k] = v
        out[f"_{k}"] = np.ones(n, dtype=bool)
    return out


def _put_rows(dst: Any, src: Any, lanes: np.ndarray) -> Any:
    if isinstance(dst, dict):
        for k in dst:
            dst[k][lanes] = src[k][lanes]
        return dst
    dst[lanes] = src[lanes]
    return dst


def _merge_results(r: StepResult, b: StepResult, lanes: np.ndarray) -> StepResult:
    """r with the given lanes' views, poses and frames taken from b (those lanes were reset)."""
    v = r.view
    for name in ("rgb", "depth", "mask", "render"):
        getattr(v, name)[lanes] = getattr(b.view, name)[lanes]
    c2w, frame = r.c2w.copy(), r.frame.copy()
    c2w[lanes], frame[lanes] = b.c2w[lanes], b.frame[lanes]
    reset = np.isin(np.arange(len(frame)), lanes)
    blocked = r.blocked_by().copy()
    blocked[reset] = ""
    estimate = None
    if r.coverage_estimate is not None and b.coverage_estimate is not None:
        estimate = np.where(reset, b.coverage_estimate, r.coverage_estimate)
    return StepResult(v, c2w, frame, r.collided & ~reset, r.leashed & ~reset, r.end_of_video & ~reset,
                      blocked=blocked, coverage_estimate=estimate)


def _merge(a: Transition, b: Transition, lanes: np.ndarray) -> Transition:
    """a with the given lanes taken from b (lanes reset within this step)."""
    obs = _put_rows(a.obs, b.obs, lanes)
    info = {k: v.copy() for k, v in a.info.items()}
    for k, v in b.info.items():
        if k in info:
            info[k][lanes] = v[lanes]
    reward, term, trunc = a.reward.copy(), a.terminated.copy(), a.truncated.copy()
    reward[lanes], term[lanes], trunc[lanes] = 0.0, False, False
    res = _merge_results(a.result, b.result, lanes)
    return Transition(obs, reward, term, trunc, info, res)


def _copy(obs: Any) -> Any:
    return {k: v.copy() for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()


def _object_rows(obs: Any, lanes: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in lanes:
        out[i] = {k: v[i].copy() for k, v in obs.items()} if isinstance(obs, dict) else obs[i].copy()
    return out


def _object_info(info: dict[str, np.ndarray], lanes: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in lanes:
        out[i] = lane_info(info, int(i))
    return out
