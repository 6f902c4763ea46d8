"""Every env option, parsed and validated once: the one signature WorldEnv, the vector env
and the PettingZoo env share, documented here and nowhere else.

    video        path to a video file or an image folder (a list: one per lane, vector env)
    world        a ReferenceWorld or "procedural:seed=..,path=..,kind=.." (default: the
                 embedded procedural room); give video= or world=, not both
    width/height observation size (64, or the given world's)
    backend      "warp" (default), "star", or a Backend instance
    backend_options  the backend's own options: warp: neighbours, neighbour_stride, alpha,
                 inpaint, ...; star: checkpoint, config, device ("auto"), threads, compile,
                 context, sampler_steps, keep_covered
    action_mode  "discrete" (default), "continuous", "orbit"
    time_mode    "play" (default; truncates at the end of the video), "loop", "pingpong", "freeze"
    obs_mode     "rgb" (default) or "dict" (adds depth, mask, pose, time)
    world_options  how the world is built: stride, max_frames, depth, c2w, K, fov, fps,
                 pattern, geometry, preprocess for videos; seed, path, num_frames, fov, fps
                 for procedural worlds
    depth_range  depth observation range, x scene scale (4.0)
    task / task_options  "free" (default), "pointnav", "imagenav", "explore" (or a Task)
    **control    move_step (0.05), turn_step (3.0), pitch_limit (45), allow_roll, vertical,
                 leash (0.75), collision, collision_radius (0.06); lengths x scene scale;
                 min_coverage (0.6, in [0, 1]; 0: off): a move or turn whose view the
                 reference would cover less than this fraction of (estimated before the
                 move, control/coverage.py) is blocked, unless it loses no coverage

`checkpoint=`, `device=`, `threads=` and `compile=` at the top level still work for this
release and warn (DeprecationWarning): they belong in `backend_options`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from ..backends import Backend, make_backend
from ..control.actions import ACTION_MODES, action_space
from ..control.limits import ControlConfig
from ..tasks import Task, make_task
from ..world.reference import ReferenceWorld
from ..world.registry import get_world
from ..world.sources import is_procedural_spec
from .cameras import TIME_MODES
from .observation import OBS_MODES, ObservationBuilder, with_fields

__all__ = ["EnvOptions", "reset_options", "source_fps"]

Source = Any  # Path | ReferenceWorld | "procedural:..." | None

#: Top-level keywords that moved into backend_options (kept working, with a warning), and
#: their defaults: a default value means "not asked for", as it did before the move.
_MOVED_TO_BACKEND = {"checkpoint": None, "device": "auto", "threads": None, "compile": False}


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside this package and gymnasium (the user's call)."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("inspatio_gym") or name.startswith("gymnasium")):
            return level
        frame, level = frame.f_back, level + 1
    return level


def _check_source(video: Any, world: Any) -> Source:
    if video is not None and world is not None:
        raise ValueError("give either video= or world=, not both")
    if video is not None:
        if not isinstance(video, (str, Path)):
            raise TypeError(f"video must be a path, got {type(video).__name__}")
        if not Path(video).exists():
            raise FileNotFoundError(f"video not found: {str(video)!r}")
        return Path(video)
    if world is not None and not (isinstance(world, ReferenceWorld) or is_procedural_spec(world)):
        raise ValueError(f"world must be a ReferenceWorld or a 'procedural:...' spec, got {world!r}; use video= for files")
    return world


def _sources(video: Any, world: Any) -> list[Source]:
    videos = list(video) if isinstance(video, (list, tuple)) else [video]
    worlds = list(world) if isinstance(world, (list, tuple)) else [world]
    if len(videos) > 1 and world is not None:
        raise ValueError("give either video= or world=, not both")
    sources = [_check_source(v, world if len(worlds) == 1 else None) for v in videos] if video is not None \
        else [_check_source(None, w) for w in worlds]
    if not sources:
        raise ValueError("video= / world= lists must not be empty")
    return sources


@dataclass
class EnvOptions:
    """The validated options of an env (see the module docstring for each one)."""

    sources: list[Source]
    width: int
    height: int
    backend: Backend
    control: ControlConfig
    action_mode: str
    time_mode: str
    observations: ObservationBuilder
    world_options: dict[str, Any] = field(default_factory=dict)
    task: str | Task | None = None
    task_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        video: str | Path | Sequence[str | Path] | None = None,
        world: ReferenceWorld | str | Sequence[ReferenceWorld | str] | None = None,
        width: int | None = None,
        height: int | None = None,
        backend: str | Backend = "warp",
        backend_options: dict[str, Any] | None = None,
        action_mode: str = "discrete",
        time_mode: str = "play",
        obs_mode: str = "rgb",
        world_options: dict[str, Any] | None = None,
        depth_range: float = 4.0,
        task: str | Task | None = None,
        task_options: dict[str, Any] | None = None,
        **control: Any,
    ) -> "EnvOptions":
        """Validate everything once; each bad value is named in its error."""
        if action_mode not in ACTION_MODES:
            raise ValueError(f"unknown action_mode {action_mode!r}; expected one of {ACTION_MODES}")
        if time_mode not in TIME_MODES:
            raise ValueError(f"unknown time_mode {time_mode!r}; expected one of {TIME_MODES}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; expected one of {OBS_MODES}")
        sources = _sources(video, world)
        given = [s for s in sources if isinstance(s, ReferenceWorld)]
        if given:  # a given world brings its own size
            width = given[0].width if width is None else width
            height = given[0].height if height is None else height
        width = 64 if width is None else width
        height = 64 if height is None else height
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 8 <= v <= 4096:
                raise ValueError(f"{name} must be an integer in [8, 4096], got {v!r}")
        if isinstance(depth_range, bool) or not isinstance(depth_range, (int, float)) or not depth_range > 0:
            raise ValueError(f"depth_range must be a number > 0, got {depth_range!r}")
        for name, opts in (("backend_options", backend_options), ("world_options", world_options),
                           ("task_options", task_options)):
            if opts is not None and not isinstance(opts, dict):
                raise TypeError(f"{name} must be a dict, got {type(opts).__name__}: {opts!r}")
        backend_options = dict(backend_options or {})
        is_star = backend == "star" or getattr(backend, "name", None) == "star"
        for name, default in _MOVED_TO_BACKEND.items():
            if name not in control:
                continue
            value = control.pop(name)
            warnings.warn(f"{name}= is deprecated; pass backend_options={{{name!r}: {value!r}}}",
                          DeprecationWarning, stacklevel=_user_stacklevel())
            if value is default or (isinstance(value, str) and value == default):
                continue  # the default asks for nothing, with any backend
            if name in backend_options and backend_options[name] != value:
                raise ValueError(f"{name} given twice with different values: {name}={value!r} and "
                                 f"backend_options[{name!r}]={backend_options[name]!r}")
            backend_options.setdefault(name, value)
        moved = sorted(set(_MOVED_TO_BACKEND) & set(backend_options))
        if moved and not is_star:
            raise ValueError(f"{', '.join(moved)} apply to backend='star', not {backend!r}")
        cfg = ControlConfig.from_kwargs(**control)
        task_options = dict(task_options or {})
        make_task(task, **task_options)  # fail early on a bad task or option
        return cls(
            sources=sources,
            width=int(width),
            height=int(height),
            backend=make_backend(backend, **backend_options),
            control=cfg,
            action_mode=action_mode,
            time_mode=time_mode,
            observations=ObservationBuilder(obs_mode, int(height), int(width), float(depth_range)),
            world_options=dict(world_options or {}),
            task=task,
            task_options=task_options,
        )

    def load_worlds(self, lanes: int) -> list[ReferenceWorld]:
        """One world per lane (sources cycled); equal sources share one world object."""
        return [get_world(self.sources[i % len(self.sources)], self.width, self.height, **self.world_options)
                for i in range(lanes)]

    def new_task(self) -> Task:
        """A fresh task for one env (tasks hold per-lane state: never shared between envs)."""
        return copy.deepcopy(make_task(self.task, **self.task_options))

    def action_space(self) -> spaces.Space:
        return action_space(self.action_mode, self.control.vertical)

    def observation_space(self) -> spaces.Space:
        """The observation space, known before any world is loaded (a task may add fields)."""
        extra = make_task(self.task, **self.task_options).extra_spaces(self.height, self.width)
        return with_fields(self.observations.space, extra)

    def fps(self) -> float:
        return source_fps(self.sources[0], self.world_options)


def source_fps(source: object, world_options: dict[str, Any]) -> float:
    """The frame rate the world will have, known before it is built (for render_fps)."""
    if isinstance(source, ReferenceWorld):
        return float(source.fps)
    if world_options.get("fps") is not None:
        from ..io.video import check_fps

        check_fps(world_options["fps"])  # named here: float("fast") would not say it is the fps
        return float(world_options["fps"])
    if isinstance(source, Path) and source.is_file():
        from ..io.video import probe_fps  # opens the file: only for videos

        return probe_fps(source) / int(world_options.get("stride", 1) or 1)
    if isinstance(source, Path):
        return 30.0
    return 12.0  # procedural_world's default


def reset_options(options: Any, known: Sequence[str]) -> dict[str, Any]:
    """reset(options=...) checked the same way by every env kind."""
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"reset options must be a dict, got {type(options).__name__}: {options!r}")
    options = dict(options or {})
    bad = sorted(set(options) - set(known))
    if bad:
        raise ValueError(f"unknown reset option(s) {bad}; known: {list(known)}")
    return options
