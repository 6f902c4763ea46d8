"""WorldEnv: one camera walking through a world built from one reference video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ..backends import Backend
from ..control.actions import action_space
from ..world.reference import ReferenceWorld
from ..tasks import Task
from .core import SessionBatch, StepResult
from .episodes import Episodes, Transition
from .observation import OBS_MODES, ObservationBuilder
from .settings import WorldSettings
from .views import debug_view

__all__ = ["WorldEnv", "OBS_MODES"]

RESET_OPTIONS = ("start_frame",)


class WorldEnv(gym.Env):
    """A camera in a world generated from one reference video.

    ## Description
    ``reset()`` builds the reference world (frames, depth, source camera poses) from a video,
    an image folder or the embedded procedural room, and puts the camera at the source pose
    of the start frame. Each ``step(action)`` moves the camera under the explicit spatial
    constraint (per-step maxima, pitch clamp, a leash around the source path, collision with
    the seen geometry), advances time by one reference frame and returns the view the
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
    ``video`` (path to a video file or an image folder), ``world`` (a ReferenceWorld or
    ``"procedural:seed=..,path=..,kind=.."``), ``width``/``height`` (64, or the given world's), ``backend``
    (``"warp"``), ``backend_options``, ``action_mode``, ``time_mode``, ``obs_mode``,
    ``checkpoint``, ``device`` (``"auto"``), ``threads``, ``compile`` (backend ``"star"``),
    ``task`` (``"free"``, ``"pointnav"``, ``"imagenav"``, ``"explore"``) and ``task_options``,
    ``world_options`` (stride, max_frames, depth, c2w, K, fov, fps, pattern for videos; seed, path,
    num_frames, fov, fps for procedural worlds), ``depth_range`` (4.0), ``render_mode``
    (``"rgb_array"``), and the control options ``move_step`` (0.05), ``turn_step`` (3.0),
    ``pitch_limit`` (45), ``allow_roll``, ``vertical``, ``leash`` (0.75), ``collision``,
    ``collision_radius`` (0.06); lengths in units of the scene scale (median depth).
    ``info`` holds ``pose`` (4x4 c2w), ``frame``, ``collided``, ``leashed``, ``coverage``.

    ## Vectorized environment
    The stepping code is one batched core (``SessionBatch`` + ``Episodes``); this env is its
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

    metadata = {"render_modes": ["rgb_array"], "render_fps": 12}

    def __init__(
        self,
        video: str | Path | None = None,
        world: ReferenceWorld | str | None = None,
        width: int | None = None,
        height: int | None = None,
        backend: str | Backend = "warp",
        backend_options: dict[str, Any] | None = None,
        action_mode: str = "discrete",
        time_mode: str = "play",
        obs_mode: str = "rgb",
        world_options: dict[str, Any] | None = None,
        depth_range: float = 4.0,
        render_mode: str | None = None,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        compile: bool = False,
        task: str | Task | None = None,
        task_options: dict[str, Any] | None = None,
        **control: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}")
        if isinstance(video, (list, tuple)) or isinstance(world, (list, tuple)):
            raise ValueError("WorldEnv takes one source; use the vector env for a list of worlds")
        st = WorldSettings.from_kwargs(
            video=video, world=world, width=width, height=height, backend=backend,
            backend_options=backend_options, action_mode=action_mode, time_mode=time_mode, obs_mode=obs_mode,
            world_options=world_options, depth_range=depth_range, checkpoint=checkpoint, device=device,
            threads=threads, compile=compile, task=task, task_options=task_options, **control,
        )
        self.settings = st
        self.source = st.sources[0]
        self.width, self.height = st.width, st.height
        self.world_options = st.world_options
        self.backend, self.control = st.backend, st.control
        self.action_mode, self.time_mode, self.obs_mode = action_mode, time_mode, obs_mode
        self.depth_range = st.observations.depth_range
        self.render_mode = render_mode
        self.action_space = action_space(action_mode, self.control.vertical)
        self.observations = st.observations
        self.observation_space = st.observation_space()
        self.metadata = {**self.metadata, "render_fps": st.fps()}
        self.world: ReferenceWorld | None = None
        self.episodes: Episodes | None = None
        self._last: StepResult | None = None

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict, got {type(options).__name__}: {options!r}")
        options = dict(options or {})
        bad = sorted(set(options) - set(RESET_OPTIONS))
        if bad:
            raise ValueError(f"unknown reset option(s) {bad}; known: {list(RESET_OPTIONS)}")
        if self.episodes is None:
            (self.world,) = self.settings.load_worlds(1)
            self.metadata = {**self.metadata, "render_fps": self.world.fps}
            self.episodes = self.settings.make_episodes([self.world])
        start = options.get("start_frame", 0)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise ValueError(f"start_frame must be an integer, got {start!r}")
        tr = self.episodes.reset(np.array([0]), np.array([int(start)]), [self.np_random])
        self._last = tr.result
        obs, info = self._one(tr)[0], self._one(tr)[4]
        info["depth_source"] = self.world.depth_source  # e.g. "ground_plane_prior": geometry is a guess
        prep = self.world.meta.get("preprocess") or {}
        if prep.get("fallback"):
            info["geometry_warning"] = f"{prep['fallback']}: {prep.get('fallback_reason', '')}"
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.episodes is None:
            raise RuntimeError("step() called before reset(): call env.reset() first")
        tr = self.episodes.step([action])
        self._last = tr.result
        return self._one(tr)

    def step_pose(self, c2w: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        """Like step(), but to an explicit camera-to-world pose (scripted trajectories).

        No leash or collision applies to explicit poses; time advances one frame.
        """
        if self.episodes is None:
            raise RuntimeError("step_pose() called before reset(): call env.reset() first")
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (4, 4):
            raise ValueError(f"pose must be a 4x4 camera-to-world matrix, got shape {c2w.shape}")
        tr = self.episodes.step_to(c2w[None])
        self._last = tr.result
        return self._one(tr)

    @property
    def core(self) -> SessionBatch | None:
        return None if self.episodes is None else self.episodes.core

    def _one(self, tr: Transition) -> tuple[Any, float, bool, bool, dict]:
        """Lane 0 of a batched transition, in the single-env types."""
        return (ObservationBuilder.lane(tr.obs, 0), float(tr.reward[0]), bool(tr.terminated[0]),
                bool(tr.truncated[0]), Episodes.lane_info(tr.info, 0))

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._last is None:
            raise RuntimeError("render() called before reset()")
        return self._last.view.rgb[0].copy()

    def debug_view(self) -> np.ndarray:
        """reference frame | render with holes in magenta | observation, side by side."""
        if self._last is None or self.world is None:
            raise RuntimeError("debug_view() called before reset()")
        v = self._last.view
        return debug_view(self.world.frames[int(self._last.frame[0])], v.render[0], v.mask[0], v.rgb[0])

    def __repr__(self) -> str:
        src = self.source if self.source is not None else "default procedural world"
        return f"<WorldEnv source={src!r} {self.width}x{self.height} backend={self.backend.name} mode={self.action_mode}>"


