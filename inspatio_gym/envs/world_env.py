"""WorldEnv: one camera walking through a world built from one reference video."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from ..world.reference import ReferenceWorld
from .cameras import CameraBatch, StepResult
from .episodes import Episodes, Transition, lane_info, make_episodes
from .observation import OBS_MODES, rendered
from .options import EnvOptions, reset_options

__all__ = ["WorldEnv", "OBS_MODES"]

RESET_OPTIONS = ("start_frame",)
#: positional arguments, in the order WorldEnv has always taken them
_POSITIONAL = ("video", "world", "width", "height", "backend", "backend_options", "action_mode", "time_mode",
               "obs_mode", "world_options", "depth_range", "render_mode")
HOLE_COLOUR = np.array([255, 0, 255], dtype=np.uint8)  # debug_view: pixels the reference does not cover


class WorldEnv(gym.Env):
    """A camera in a world generated from one reference video.

    ## Description
    ``reset()`` builds the reference world (frames, depth, source camera poses) from a video,
    an image folder or the embedded procedural room, and puts the camera at the source pose
    of the start frame. Each ``step(action)`` moves the camera under the explicit spatial
    constraint (per-step maxima, pitch clamp, a leash around the source path, collision with
    the seen geometry, a coverage floor that keeps the view where the world is known),
    advances time by one reference frame and returns the view the
    backend renders there: ``"warp"`` splats the time-aligned reference frames into the
    camera and fills the holes; ``"star"`` gives that render and its coverage mask to the
    STAR generator (causal DiT with a cache of reference and recent frames, few-step flow
    sampling, tiny VAE), which generates the view.

    ## Action Space
    ``action_mode="discrete"`` (default): ``Discrete(9)`` = noop, forward, backward, strafe
    left, strafe right, turn left, turn right, look up, look down (``vertical=True`` adds up,
    down: ``Discrete(11)``). ``"continuous"``: ``Box(-1, 1, (6,))`` = [dx right, dy down,
    dz forward, dyaw right, dpitch up, droll], scaled by ``move_step`` (x scene scale) and
    ``turn_step`` (degrees). ``"orbit"``: ``Box(-1, 1, (3,))`` = [dpitch up, dyaw left,
    ddisplacement forward] about a pivot one scene scale ahead of the start camera.

    ## Observation Space
    ``obs_mode="rgb"`` (default): ``Box(0, 255, (height, width, 3), uint8)``.
    ``obs_mode="dict"``: ``rgb``; ``depth`` ``(H, W, 1) uint8`` (z-depth / (depth_range x scale));
    ``mask`` ``(H, W, 1) uint8`` (255 where the reference covers the pixel); ``pose``
    ``(7,) float32`` (position / scale and quaternion wxyz relative to the start pose);
    ``time`` ``(1,) float32`` in [0, 1] along the reference video.

    ## Rewards
    None in this task (always 0.0): it is the free-roaming world. Navigation tasks are
    separate ids.

    ## Starting State
    The source camera pose of frame ``options["start_frame"]`` (default 0).

    ## Episode End
    Truncation when the reference video ends (``time_mode="play"``) or at the spec's
    ``max_episode_steps``; ``"loop"``, ``"pingpong"`` and ``"freeze"`` (the original's
    time freeze) never end by themselves. No termination.

    ## Arguments
    ``render_mode`` (``"rgb_array"``) and the options every env kind shares, documented once
    in ``inspatio_gym.envs.options``: ``video`` / ``world``, ``width`` / ``height``, ``backend``
    and ``backend_options``, ``action_mode``, ``time_mode``, ``obs_mode``, ``world_options``,
    ``depth_range``, ``task`` / ``task_options`` and the control options (``move_step``,
    ``turn_step``, ``pitch_limit``, ``leash``, ``collision_radius``, ``min_coverage``, ...;
    lengths in units of the scene scale, the median depth). ``min_coverage`` (default 0.6;
    0 disables it): a move or turn whose view the reference frames would cover less than
    this fraction of is blocked (position and rotation kept; in orbit mode the whole move),
    unless it keeps or increases the coverage, so a camera below the floor can come back;
    a camera the video's own camera would leave behind (a pan, a walk) is carried with it
    (and drawn towards it where that is not enough);
    explicit poses (``step_pose``, trajectories) are not limited. ``info`` holds ``pose``
    (4x4 c2w), ``frame``, ``collided``, ``leashed``, ``blocked`` (the limit that blocked
    the move: ``"collision"``, ``"leash"``, ``"coverage"`` or ``""``), ``coverage`` (the
    rendered view's covered fraction) and ``coverage_estimate`` (the floor's low-resolution
    estimate of it; NaN when the floor is off).

    ## Vectorized environment
    The stepping code is one batched core (``CameraBatch`` + ``Episodes``); this env is its
    batch of one. ``gym.make_vec("InspatioWorld-v0", num_envs=16)`` returns the natively
    batched ``WorldVectorEnv`` (one warp / generator call per step for all lanes), whose
    lanes equal this env under seeds ``seed + i``.

    ## Example
    >>> import gymnasium as gym, inspatio_gym
    >>> env = gym.make("InspatioWorld-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype
    ((64, 64, 3), dtype('uint8'))
    >>> obs, reward, terminated, truncated, info = env.step(1)  # forward
    >>> sorted(k for k in ("pose", "frame", "collided", "coverage") if k in info)
    ['collided', 'coverage', 'frame', 'pose']
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 12}

    def __init__(self, *args: Any, render_mode: str | None = None, **options: Any) -> None:
        if len(args) > len(_POSITIONAL):
            raise TypeError(f"WorldEnv takes at most {len(_POSITIONAL)} positional arguments ({', '.join(_POSITIONAL)})")
        for name, value in zip(_POSITIONAL, args):  # the order of the original signature
            if name in options or (name == "render_mode" and render_mode is not None):
                raise TypeError(f"WorldEnv got multiple values for argument {name!r}")
            if name == "render_mode":
                render_mode = value
            else:
                options[name] = value
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}")
        if isinstance(options.get("video"), (list, tuple)) or isinstance(options.get("world"), (list, tuple)):
            raise ValueError("WorldEnv takes one source; use the vector env for a list of worlds")
        self.options = EnvOptions.parse(**options)
        self.source = self.options.sources[0]
        self.width, self.height = self.options.width, self.options.height
        self.backend = self.options.backend
        self.render_mode = render_mode
        self.action_space = self.options.action_space()
        self.observation_space = self.options.observation_space()
        self.metadata = {**self.metadata, "render_fps": self.options.fps()}
        self.world: ReferenceWorld | None = None
        self.episodes: Episodes | None = None
        self._last: StepResult | None = None  # None until a reset succeeded
        self._window: Any = None  # render_mode="human": an io.window.Window, opened at the first frame
        if render_mode == "human":
            from ..io.window import Window

            self._window = Window("inspatio_gym", require_display=False)

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = reset_options(options, RESET_OPTIONS)
        start = options.get("start_frame", 0)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise ValueError(f"start_frame must be an integer, got {start!r}")
        if self.episodes is None:
            (self.world,) = self.options.load_worlds(1)
            self.metadata = {**self.metadata, "render_fps": self.world.fps}
            self.episodes = make_episodes(self.options, [self.world])
        self._last = None  # a reset that fails leaves the env unsteppable, as before its first reset
        tr = self.episodes.reset(np.array([0]), np.array([int(start)]), [self.np_random])
        self._last = tr.result
        obs, _, _, _, info = self._one(tr)
        info["depth_source"] = self.world.depth_source  # e.g. "ground_plane_prior": geometry is a guess
        prep = self.world.meta.get("preprocess") or {}
        if prep.get("fallback"):
            info["geometry_warning"] = f"{prep['fallback']}: {prep.get('fallback_reason', '')}"
        if self.render_mode == "human":
            self.render()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._last is None:
            raise RuntimeError("step() called before reset(): call env.reset() first")
        tr = self.episodes.step((action,))
        self._last = tr.result
        if self.render_mode == "human":
            self.render()
        return self._one(tr)

    def step_pose(self, c2w: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        """Like step(), but to an explicit camera-to-world pose (scripted trajectories).

        No leash or collision applies to explicit poses; time advances one frame.
        """
        if self._last is None:
            raise RuntimeError("step_pose() called before reset(): call env.reset() first")
        given = c2w
        try:
            c2w = np.asarray(given, dtype=np.float64)
        except (TypeError, ValueError):  # numpy's message names neither the pose nor the value
            raise ValueError(f"pose must be a 4x4 camera-to-world matrix of numbers, got {given!r}") from None
        if c2w.shape != (4, 4):
            shown = f" ({given!r})" if np.ndim(given) == 0 else ""
            raise ValueError(f"pose must be a 4x4 camera-to-world matrix, got shape {c2w.shape}{shown}")
        tr = self.episodes.step_to(c2w[None])
        self._last = tr.result
        if self.render_mode == "human":
            self.render()
        return self._one(tr)

    # the options a user asks the env about (read-only: they were validated together)
    control = property(lambda self: self.options.control)
    action_mode = property(lambda self: self.options.action_mode)
    time_mode = property(lambda self: self.options.time_mode)
    obs_mode = property(lambda self: self.options.observations.mode)
    depth_range = property(lambda self: self.options.observations.depth_range)

    @property
    def core(self) -> CameraBatch | None:
        return None if self.episodes is None else self.episodes.core

    @staticmethod
    def _one(tr: Transition) -> tuple[Any, float, bool, bool, dict]:
        """Lane 0 of a batched transition, in the single-env types."""
        obs = {k: v[0] for k, v in tr.obs.items()} if isinstance(tr.obs, dict) else tr.obs[0]
        return obs, float(tr.reward[0]), bool(tr.terminated[0]), bool(tr.truncated[0]), lane_info(tr.info, 0)

    def render(self) -> np.ndarray | None:
        """rgb_array: the current view [H, W, 3]; human: the view shown in a window (pygame,
        the [viz] extra), which reset() and step() also do, as Gymnasium's human mode asks."""
        if self.render_mode == "human":
            if self._last is None:
                raise RuntimeError("render() called before reset()")
            self._window.show(self._last.view.rgb[0])
            self._window.events()  # keeps the window responsive
            return None
        views = rendered(self.render_mode, self._last)
        return None if views is None else views[0]

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
        super().close()

    def debug_view(self) -> np.ndarray:
        """reference frame | render with holes in magenta | observation, side by side."""
        if self._last is None or self.world is None:
            raise RuntimeError("debug_view() called before reset()")
        v = self._last.view
        marked = v.render[0].copy()
        marked[~v.mask[0]] = HOLE_COLOUR
        return np.concatenate([self.world.frames[int(self._last.frame[0])], marked, v.rgb[0]], axis=1)

    def __repr__(self) -> str:
        src = self.source if self.source is not None else "default procedural world"
        return (f"<WorldEnv source={src!r} {self.width}x{self.height} backend={self.backend.name} "
                f"mode={self.options.action_mode}>")
