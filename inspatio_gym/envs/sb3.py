"""Stable-Baselines3 VecEnv over the natively batched WorldVectorEnv.

SB3 does not take Gymnasium vector envs: it wants its own VecEnv contract (reset returns
obs only, one info dict per lane, automatic reset inside step with the final observation in
``info["terminal_observation"]``). Wrapping N WorldEnvs in a DummyVecEnv would throw away the
batched core (one constraint / warp / generator call per step for all lanes), so this adapter
speaks SB3's contract directly on top of ``WorldVectorEnv(autoreset_mode="same_step")``,
whose step already returns the reset observation and keeps the final one aside.

stable_baselines3 is an optional dependency: only this module imports it, and nothing else in
the package imports this module.

Use::

    from stable_baselines3 import PPO
    from inspatio_gym.envs.sb3 import make_sb3_vec_env

    venv = make_sb3_vec_env(num_envs=4, world="procedural:num_frames=48")
    PPO("CnnPolicy", venv).learn(10_000)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector import VectorEnv as GymVectorEnv
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from .vector_env import WorldVectorEnv

__all__ = ["SB3VecEnv", "make_sb3_vec_env"]

# Keys of the vector env's step info that are not per-lane values.
_FINAL_KEYS = ("final_obs", "final_info", "_final_obs", "_final_info")


class SB3VecEnv(VecEnv):
    """SB3 VecEnv view of a same-step-autoreset WorldVectorEnv (or any such Gymnasium VectorEnv).

    ``SB3VecEnv(num_envs=4, world=..., max_episode_steps=...)`` builds the vector env from
    WorldVectorEnv's arguments; ``SB3VecEnv(venv)`` wraps an existing one, which must have been
    made with ``autoreset_mode="same_step"`` (SB3 expects the reset observation in the very
    step that ends an episode). All lanes share the one vector env, so ``get_attr`` /
    ``env_method`` act on it once and repeat the result per index, and ``set_attr`` only
    accepts all lanes.
    """

    def __init__(self, venv: GymVectorEnv | None = None, **kwargs: Any) -> None:
        if venv is None:
            mode = kwargs.pop("autoreset_mode", AutoresetMode.SAME_STEP)
            if _mode(mode) != AutoresetMode.SAME_STEP:
                raise ValueError(f"SB3VecEnv needs autoreset_mode='same_step', got {mode!r}")
            venv = WorldVectorEnv(autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
        elif kwargs:
            raise ValueError(f"give either an existing vector env or its keyword arguments, not both "
                             f"(got venv and {sorted(kwargs)})")
        if not isinstance(venv, GymVectorEnv):
            raise TypeError(f"venv must be a gymnasium VectorEnv such as WorldVectorEnv, got {type(venv).__name__}")
        mode = _mode(venv.metadata.get("autoreset_mode", getattr(venv, "autoreset_mode", None)))
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"SB3VecEnv needs a vector env made with autoreset_mode='same_step', this one has {mode!r}; "
                "create it with WorldVectorEnv(..., autoreset_mode='same_step') or use make_sb3_vec_env()"
            )
        self.venv = venv  # set before VecEnv.__init__, which calls get_attr("render_mode")
        self._actions: Any = None
        self._waiting = False
        self._closed = False
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._discrete = isinstance(self.action_space, gym.spaces.Discrete)

    # -- reset / step --------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset every lane with the seeds / options set since the last reset, then forget them."""
        options = self._common_options(self._options)
        if "reset_mask" in options:
            raise ValueError("SB3's reset() resets every lane; the 'reset_mask' option is not allowed here")
        seeds = list(self._seeds)
        seed = None if all(s is None for s in seeds) else seeds
        obs, info = self.venv.reset(seed=seed, options=options or None)
        self.reset_infos = [_lane_info(info, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        self._waiting = False
        self._actions = None
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the actions for step_wait (the batched core steps synchronously)."""
        if self._discrete and isinstance(actions, np.ndarray) and actions.shape == (self.num_envs, 1):
            actions = actions.reshape(self.num_envs)  # some SB3 paths keep a trailing axis
        self._actions = actions
        self._waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        """One batched step in SB3's form: done lanes come back already reset."""
        if not self._waiting:
            raise RuntimeError("step_wait() called without a pending step_async(actions)")
        self._waiting = False
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, info = self.venv.step(actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        final_mask = np.asarray(info.get("_final_obs", np.zeros(self.num_envs, bool)), dtype=bool)
        infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            if dones[i]:
                if not final_mask[i]:
                    raise RuntimeError(f"lane {i} ended but the vector env gave no final observation "
                                       "(is its autoreset_mode 'same_step'?)")
                lane = _plain(info["final_info"][i]) if "final_info" in info else {}
                lane["terminal_observation"] = _copy_obs(info["final_obs"][i])
                self.reset_infos[i] = _lane_info(info, i)
            else:
                lane = _lane_info(info, i)
            lane["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos.append(lane)
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        if not self._closed:
            self.venv.close()
            self._closed = True

    # -- options -------------------------------------------------------------------------
    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """SB3's per-lane options, checked now: the vector env takes one options dict for all lanes."""
        if options is not None and not isinstance(options, dict):
            options = list(options)
            if len(options) != self.num_envs:
                raise ValueError(f"set_options got {len(options)} option dicts for {self.num_envs} lanes")
            self._common_options(options)
        super().set_options(options)

    def _common_options(self, options: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        dicts = [dict(o or {}) for o in options]
        if any(not _equal(d, dicts[0]) for d in dicts[1:]):
            raise ValueError(
                "WorldVectorEnv takes one options dict for all lanes, but the per-lane options differ: "
                f"{dicts!r}; give a single dict (per-lane values such as start_frame=[0, 5, ...] go inside it)"
            )
        return dicts[0] if dicts else {}

    # -- attributes / methods --------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute, once per requested lane (they all share it)."""
        idx = self._indices(indices)
        value = getattr(self.venv, attr_name)
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared vector env; only for all lanes, since it affects all of them."""
        idx = self._indices(indices)
        if sorted(i % self.num_envs for i in idx) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}) acts on the one vector env shared by all lanes; "
                             f"indices must cover every lane, got {list(idx)}")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of the vector env once; its result is repeated per requested lane."""
        idx = self._indices(indices)
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """The lanes are not gym.Env objects, so no single-env wrapper can be around them."""
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Per-lane RGB views from the vector env's batched render."""
        if self.render_mode != "rgb_array":
            warnings.warn(f"The render mode is {self.render_mode}, but get_images() needs 'rgb_array'; "
                          "create the env with render_mode='rgb_array'")
            return [None for _ in range(self.num_envs)]
        images = self.venv.render()
        return [np.asarray(images[i]) for i in range(self.num_envs)]

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        idx = [int(i) for i in self._get_indices(indices)]
        bad = [i for i in idx if not -self.num_envs <= i < self.num_envs]
        if bad:
            raise IndexError(f"env indices {bad} out of range for {self.num_envs} lanes")
        return idx


def make_sb3_vec_env(num_envs: int = 4, env_id: str = "InspatioWorld-v0", **kwargs: Any) -> SB3VecEnv:
    """A registered env as an SB3 VecEnv: gym.make_vec's defaults (the spec's kwargs and time limit).

    Unlike ``SB3VecEnv(**kwargs)`` this applies the registered ``max_episode_steps`` (500 for
    InspatioWorld-v0) unless ``max_episode_steps=`` is given.
    """
    mode = kwargs.pop("autoreset_mode", AutoresetMode.SAME_STEP)
    if _mode(mode) != AutoresetMode.SAME_STEP:
        raise ValueError(f"SB3VecEnv needs autoreset_mode='same_step', got {mode!r}")
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    return SB3VecEnv(venv)


# -- helpers ------------------------------------------------------------------------------
def _mode(mode: Any) -> AutoresetMode | Any:
    """An autoreset mode as the enum when it names one ('same_step', 'SameStep' or the enum)."""
    if isinstance(mode, AutoresetMode):
        return mode
    names = {"same_step": AutoresetMode.SAME_STEP, "next_step": AutoresetMode.NEXT_STEP,
             "disabled": AutoresetMode.DISABLED}
    if str(mode).lower() in names:
        return names[str(mode).lower()]
    try:
        return AutoresetMode(mode)
    except ValueError:
        return mode


def _plain(value: Any) -> Any:
    """numpy scalars and 0-d arrays as Python values, arrays copied, dicts recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 and value.dtype != object else value.copy()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _lane_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Lane i's entries of a Gymnasium vector info (dict of arrays with ``_key`` masks)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_") or key in _FINAL_KEYS:
            continue
        mask = info.get(f"_{key}")
        if mask is not None and not bool(np.asarray(mask)[i]):
            continue
        out[key] = _lane_info(value, i) if isinstance(value, dict) else _plain(value[i])
    return out


def _copy_obs(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: np.array(v, copy=True) for k, v in obs.items()}
    return np.array(obs, copy=True)


def _equal(a: Any, b: Any) -> bool:
    """Equality of option values that may hold numpy arrays (where == is elementwise)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() \
            and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except (TypeError, ValueError):
            return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
