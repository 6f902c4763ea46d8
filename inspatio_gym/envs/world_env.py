"""WorldEnv: one camera walking through a world built from one reference video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..backends import Backend, make_backend
from ..control.actions import ACTION_MODES, action_space
from ..control.limits import ControlConfig
from ..geometry.camera import invert_pose, rotation_to_quaternion
from ..world.cache import get_world
from ..world.reference import ReferenceWorld
from ..world.sources import is_procedural_spec
from .core import TIME_MODES, SessionBatch, StepResult
from .views import debug_view

__all__ = ["WorldEnv", "OBS_MODES"]

OBS_MODES = ("rgb", "dict")
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
    camera and inpaints the holes; ``"star"`` gives that render and its coverage mask to the
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
    ``world_options`` (stride, max_frames, depth, c2w, K, fov, fps, pattern for videos; seed, path,
    num_frames, fov, fps for procedural worlds), ``depth_range`` (4.0), ``render_mode``
    (``"rgb_array"``), and the control options ``move_step`` (0.05), ``turn_step`` (3.0),
    ``pitch_limit`` (45), ``allow_roll``, ``vertical``, ``leash`` (0.75), ``collision``,
    ``collision_radius`` (0.06); lengths in units of the scene scale (median depth).
    ``info`` holds ``pose`` (4x4 c2w), ``frame``, ``collided``, ``leashed``, ``coverage``.

    ## Vectorized environment
    The stepping code is one batched core (``SessionBatch``); this env is its batch of one.

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
        **control: Any,
    ) -> None:
        if video is not None and world is not None:
            raise ValueError("give either video= or world=, not both")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"unknown action_mode {action_mode!r}; expected one of {ACTION_MODES}")
        if time_mode not in TIME_MODES:
            raise ValueError(f"unknown time_mode {time_mode!r}; expected one of {TIME_MODES}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; expected one of {OBS_MODES}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}")
        if isinstance(world, ReferenceWorld):  # a given world brings its own size
            width = world.width if width is None else width
            height = world.height if height is None else height
        width = 64 if width is None else width
        height = 64 if height is None else height
        for name, v in (("width", width), ("height", height)):
            if not isinstance(v, (int, np.integer)) or not 8 <= v <= 4096:
                raise ValueError(f"{name} must be an integer in [8, 4096], got {v!r}")
        if isinstance(depth_range, bool) or not isinstance(depth_range, (int, float)) or not depth_range > 0:
            raise ValueError(f"depth_range must be a number > 0, got {depth_range!r}")
        if video is not None:
            if not isinstance(video, (str, Path)):
                raise TypeError(f"video must be a path, got {type(video).__name__}")
            if not Path(video).exists():
                raise FileNotFoundError(f"video not found: {str(video)!r}")
            video = Path(video)
        if world is not None and not (isinstance(world, ReferenceWorld) or is_procedural_spec(world)):
            raise ValueError(
                f"world must be a ReferenceWorld or a 'procedural:...' spec, got {world!r}; use video= for files"
            )
        self.control = ControlConfig.from_kwargs(**control)
        self.source = video if video is not None else world
        self.width, self.height = int(width), int(height)
        self.world_options = dict(world_options or {})
        backend_options = dict(backend_options or {})
        model_opts = {"checkpoint": checkpoint, "device": device, "threads": threads, "compile": compile}
        if backend == "star":
            backend_options = {**model_opts, **backend_options}
        elif checkpoint is not None or device != "auto" or threads is not None or compile:
            raise ValueError(f"checkpoint, device, threads and compile apply to backend='star', not {backend!r}")
        self.backend = make_backend(backend, **backend_options)
        self.action_mode, self.time_mode, self.obs_mode = action_mode, time_mode, obs_mode
        self.depth_range = float(depth_range)
        self.render_mode = render_mode
        self.action_space = action_space(action_mode, self.control.vertical)
        rgb_space = spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        if obs_mode == "rgb":
            self.observation_space = rgb_space
        else:
            self.observation_space = spaces.Dict(
                {
                    "rgb": rgb_space,
                    "depth": spaces.Box(0, 255, (self.height, self.width, 1), np.uint8),
                    "mask": spaces.Box(0, 255, (self.height, self.width, 1), np.uint8),
                    "pose": spaces.Box(-np.inf, np.inf, (7,), np.float32),
                    "time": spaces.Box(0.0, 1.0, (1,), np.float32),
                }
            )
        self.metadata = {**self.metadata, "render_fps": _source_fps(self.source, self.world_options)}
        self.world: ReferenceWorld | None = None
        self.core: SessionBatch | None = None
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
        if self.core is None:
            self.world = get_world(self.source, self.width, self.height, **self.world_options)
            self.metadata = {**self.metadata, "render_fps": self.world.fps}
            self.core = SessionBatch([self.world], self.backend, self.control, self.action_mode, self.time_mode)
        start = options.get("start_frame", 0)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise ValueError(f"start_frame must be an integer, got {start!r}")
        lane_seed = int(self.np_random.integers(2**31 - 1))
        self._last = self.core.reset(np.array([0]), np.array([int(start)]), np.array([lane_seed]))
        return self._obs(self._last), self._info(self._last)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.core is None:
            raise RuntimeError("step() called before reset(): call env.reset() first")
        self._last = self.core.step([action])
        truncated = bool(self._last.end_of_video[0])
        return self._obs(self._last), 0.0, False, truncated, self._info(self._last)

    def step_pose(self, c2w: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        """Like step(), but to an explicit camera-to-world pose (scripted trajectories).

        No leash or collision applies to explicit poses; time advances one frame.
        """
        if self.core is None:
            raise RuntimeError("step_pose() called before reset(): call env.reset() first")
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (4, 4):
            raise ValueError(f"pose must be a 4x4 camera-to-world matrix, got shape {c2w.shape}")
        self._last = self.core.step_to(c2w[None])
        truncated = bool(self._last.end_of_video[0])
        return self._obs(self._last), 0.0, False, truncated, self._info(self._last)

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

    # -- observation and info --------------------------------------------------------------
    def _relative_pose(self, c2w: np.ndarray) -> np.ndarray:
        assert self.core is not None
        rel = invert_pose(self.core.rig.anchor[0]) @ c2w
        pos = rel[:3, 3] / self.core.rig.scale[0]
        return np.concatenate([pos, rotation_to_quaternion(rel[:3, :3])]).astype(np.float32)

    def _obs(self, r: StepResult) -> Any:
        rgb = r.view.rgb[0].copy()
        if self.obs_mode == "rgb":
            return rgb
        assert self.world is not None
        d = r.view.depth[0] / (self.depth_range * self.world.scale)
        T = self.world.num_frames
        return {
            "rgb": rgb,
            "depth": (np.clip(d, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None],
            "mask": (r.view.mask[0].astype(np.uint8) * 255)[..., None],
            "pose": self._relative_pose(r.c2w[0]),
            "time": np.array([r.frame[0] / max(T - 1, 1)], dtype=np.float32),
        }

    def _info(self, r: StepResult) -> dict[str, Any]:
        return {
            "pose": r.c2w[0].copy(),
            "frame": int(r.frame[0]),
            "collided": bool(r.collided[0]),
            "leashed": bool(r.leashed[0]),
            "coverage": float(r.view.mask[0].mean()),
        }

    def __repr__(self) -> str:
        src = self.source if self.source is not None else "default procedural world"
        return f"<WorldEnv source={src!r} {self.width}x{self.height} backend={self.backend.name} mode={self.action_mode}>"



def _source_fps(source: object, world_options: dict[str, Any]) -> float:
    """The frame rate the world will have, known before it is built (for render_fps)."""
    if isinstance(source, ReferenceWorld):
        return float(source.fps)
    if "fps" in world_options:
        return float(world_options["fps"])
    if isinstance(source, Path) and source.is_file():
        from ..world.video import probe_fps

        return probe_fps(source) / int(world_options.get("stride", 1) or 1)
    if isinstance(source, Path):
        return 30.0
    return 12.0  # procedural_world's default
