"""The options every env front end shares, validated once: sources, size, modes, backend, control.

WorldEnv, the vector env and the PettingZoo env all build their SessionBatch from these, so
an option means the same thing, and fails the same way, everywhere.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..backends import Backend, make_backend
from ..control.actions import ACTION_MODES
from ..control.limits import ControlConfig
from ..world.registry import get_world
from ..world.reference import ReferenceWorld
from ..world.sources import is_procedural_spec
from ..tasks import Task, make_task
from .core import TIME_MODES, SessionBatch
from .episodes import Episodes
from .observation import OBS_MODES, ObservationBuilder

__all__ = ["WorldSettings", "source_fps"]

Source = Any  # Path | ReferenceWorld | "procedural:..." | None


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


@dataclass
class WorldSettings:
    sources: list[Source]
    width: int
    height: int
    backend: Backend
    control: ControlConfig
    action_mode: str
    time_mode: str
    observations: ObservationBuilder
    world_options: dict[str, Any]
    task_name: str | Task | None = None
    task_options: dict[str, Any] | None = None

    @classmethod
    def from_kwargs(
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
        checkpoint: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        compile: bool = False,
        task: str | Task | None = None,
        task_options: dict[str, Any] | None = None,
        **control: Any,
    ) -> "WorldSettings":
        """Validate everything; `video`/`world` may be lists (one source per lane, cycled)."""
        if action_mode not in ACTION_MODES:
            raise ValueError(f"unknown action_mode {action_mode!r}; expected one of {ACTION_MODES}")
        if time_mode not in TIME_MODES:
            raise ValueError(f"unknown time_mode {time_mode!r}; expected one of {TIME_MODES}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; expected one of {OBS_MODES}")
        videos = list(video) if isinstance(video, (list, tuple)) else [video]
        worlds = list(world) if isinstance(world, (list, tuple)) else [world]
        if len(videos) > 1 and world is not None:
            raise ValueError("give either video= or world=, not both")
        sources = [_check_source(v, world if len(worlds) == 1 else None) for v in videos] if video is not None \
            else [_check_source(None, w) for w in worlds]
        if not sources:
            raise ValueError("video= / world= lists must not be empty")
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
        cfg = ControlConfig.from_kwargs(**control)
        make_task(task, **dict(task_options or {}))  # fail early on a bad task or option
        backend_options = dict(backend_options or {})
        model_opts = {"checkpoint": checkpoint, "device": device, "threads": threads, "compile": compile}
        if backend == "star":
            backend_options = {**model_opts, **backend_options}
        elif checkpoint is not None or device != "auto" or threads is not None or compile:
            raise ValueError(f"checkpoint, device, threads and compile apply to backend='star', not {backend!r}")
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
            task_name=task,
            task_options=dict(task_options or {}),
        )

    def load_worlds(self, lanes: int) -> list[ReferenceWorld]:
        """One world per lane (sources cycled); equal sources share one world object."""
        return [get_world(self.sources[i % len(self.sources)], self.width, self.height, **self.world_options)
                for i in range(lanes)]

    def make_core(self, worlds: list[ReferenceWorld]) -> SessionBatch:
        return SessionBatch(worlds, self.backend, self.control, self.action_mode, self.time_mode)

    def make_episodes(self, worlds: list[ReferenceWorld]) -> Episodes:
        """The core, a fresh task and the observation builder for these lanes."""
        task = copy.deepcopy(make_task(self.task_name, **(self.task_options or {})))  # never shared between envs
        return Episodes(self.make_core(worlds), task, self.observations)

    def observation_space(self) -> Any:
        """The observation space before any world is loaded (a task may add fields)."""
        task = make_task(self.task_name, **(self.task_options or {}))
        extra = task.extra_spaces(self.height, self.width)
        base = self.observations.space
        if not extra:
            return base
        from gymnasium import spaces

        fields = dict(base.spaces) if isinstance(base, spaces.Dict) else {"rgb": base}
        return spaces.Dict({**fields, **extra})

    def fps(self) -> float:
        return source_fps(self.sources[0], self.world_options)


def source_fps(source: object, world_options: dict[str, Any]) -> float:
    """The frame rate the world will have, known before it is built (for render_fps)."""
    if isinstance(source, ReferenceWorld):
        return float(source.fps)
    if "fps" in world_options:
        return float(world_options["fps"])
    if isinstance(source, Path) and source.is_file():
        from ..io.video import probe_fps

        return probe_fps(source) / int(world_options.get("stride", 1) or 1)
    if isinstance(source, Path):
        return 30.0
    return 12.0  # procedural_world's default
