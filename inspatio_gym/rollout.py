"""Scripted rollouts: a trajectory file, a scripted walk or a random policy, recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from .envs.world_env import WorldEnv
from .geometry.trajectory import Trajectory, load_trajectory, trajectory_poses

__all__ = ["Recording", "BUILTIN_TRAJECTORIES", "resolve_trajectory", "scripted_actions", "record", "step_labels"]

BUILTIN_TRAJECTORIES = {p.stem: p for p in (Path(__file__).parent / "data" / "trajectories").glob("*.txt")}

# A walk that looks around: forward, a left arc, forward, a right arc, a glance up and down.
_WALK = [1] * 6 + [5] * 5 + [1] * 6 + [6] * 10 + [1] * 4 + [7] * 3 + [8] * 3 + [5] * 5


@dataclass
class Recording:
    """What a rollout saw: observations, debug triptychs and per-step info."""

    frames: list[np.ndarray] = field(default_factory=list)
    debug: list[np.ndarray] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)


RED = (200, 30, 30)


def step_labels(rec: Recording) -> list[list[object]]:
    """Caption lines per recorded frame for a contact sheet: the step, the covered share of
    the view, and in red what blocked the move there (collision, leash, coverage floor)."""
    out: list[list[object]] = []
    for k, info in enumerate(rec.infos):
        lines: list[object] = [f"step {k}  cov {float(info.get('coverage', 0.0)):.2f}"]
        blocked = info.get("blocked") or ("collision" if info.get("collided") else "")
        lines.append((f"blocked: {blocked}", RED) if blocked else "")
        out.append(lines)
    return out


def resolve_trajectory(name_or_path: str | Path) -> Trajectory:
    """A built-in trajectory by name (x_y_circle_cycle, zoom_out_in) or a file path."""
    if str(name_or_path) in BUILTIN_TRAJECTORIES:
        return load_trajectory(BUILTIN_TRAJECTORIES[str(name_or_path)])
    p = Path(name_or_path)
    if not p.exists():
        raise FileNotFoundError(
            f"trajectory {str(name_or_path)!r} is neither a file nor a built-in ({sorted(BUILTIN_TRAJECTORIES)})"
        )
    return load_trajectory(p)


def scripted_actions(mode: str) -> Callable[[int], object]:
    """A deterministic exploring walk for the given action mode."""
    if mode == "discrete":
        return lambda k: _WALK[k % len(_WALK)]
    if mode == "continuous":
        return lambda k: np.array([0, 0, 1.0, 0.6 * np.sin(k / 6.0), 0.2 * np.sin(k / 11.0), 0], np.float32)
    return lambda k: np.array([0.3 * np.sin(k / 9.0), 0.8 * np.cos(k / 13.0), 0.3 * np.sin(k / 7.0)], np.float32)


def record(
    env: WorldEnv,
    steps: int,
    policy: str | Callable[[int], object] = "scripted",
    trajectory: Trajectory | None = None,
    relative_to_source: bool = False,
    rotation_only: bool = False,
    r_scale: float = 1.0,
    seed: int | None = 0,
    debug: bool = False,
    progress: bool = True,
) -> Recording:
    """Reset env and run it for up to `steps` steps, or along a trajectory to the video's end."""
    obs, info = env.reset(seed=seed)
    rec = Recording()
    world = env.world
    assert world is not None

    def keep(o: object, i: dict) -> None:
        rec.frames.append(o["rgb"] if isinstance(o, dict) else o)  # type: ignore[index]
        rec.infos.append(i)
        if debug:
            rec.debug.append(env.debug_view())

    keep(obs, info)
    if trajectory is not None:
        poses = trajectory_poses(trajectory, world.c2w, rotation_only, relative_to_source, r_scale)
        total = min(steps, len(poses) - 1)
        it: Iterable[int] = range(1, total + 1)
        for k in tqdm(it, total=total, desc=f"trajectory {trajectory.name}", disable=not progress):
            obs, _, term, trunc, info = env.step_pose(poses[k])
            keep(obs, info)
            if term or trunc:
                break
        return rec
    if policy == "random":
        env.action_space.seed(seed)
        act: Callable[[int], object] = lambda k: env.action_space.sample()  # noqa: E731
    elif policy == "scripted":
        act = scripted_actions(env.action_mode)
    elif callable(policy):
        act = policy
    else:
        raise ValueError(f"unknown policy {policy!r}; expected 'scripted', 'random' or a callable")
    for k in tqdm(range(steps), desc=f"{policy if isinstance(policy, str) else 'policy'} rollout",
                  disable=not progress):
        obs, _, term, trunc, info = env.step(act(k))
        keep(obs, info)
        if term or trunc:
            break
    return rec
