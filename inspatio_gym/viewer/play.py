"""`inspatio-gym play`: walk through a world from the keyboard in a desktop window.

The env steps at a fixed rate (--fps) whether or not a key is held, so the reference
video plays on while you stand still; held keys add up into one continuous action
(viewer.keys). Space starts a recording and stops it into an MP4 (recording_NNN.mp4 in
--out); Esc or closing the window ends the session (a recording in progress is saved).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..envs.world_env import WorldEnv
from ..io.media import write_mp4
from ..io.window import Window
from .keys import HELP, KEYS, action_from_keys, overlay_lines

__all__ = ["play"]


def _key_name(pg: Any, key: int) -> str:
    return pg.key.name(key).lower()


def play(env_options: dict[str, Any], out: str | Path = "outputs/play", fps: float = 15.0, seed: int = 0,
         max_frames: int | None = None, window: Window | None = None,
         on_frame: Callable[[int, dict], None] | None = None) -> list[Path]:
    """Run the window until Esc / close (or max_frames steps); returns the MP4s recorded.

    env_options: WorldEnv keyword arguments (video or world, size, backend, time_mode...);
    the action mode is continuous. on_frame(k, info) is called after each step (scripts)."""
    window = window or Window("inspatio_gym play")  # no display: says so before any world is built
    pg = window.pg
    env = WorldEnv(**{**env_options, "action_mode": "continuous", "render_mode": "rgb_array"})
    obs, info = env.reset(seed=seed)
    world = env.world
    assert world is not None
    backend, time_mode = env.options.backend.name, env.options.time_mode
    out = Path(out)
    held: set[str] = set()
    recording: list[np.ndarray] | None = None
    rec_start = 0.0
    saved: list[Path] = []
    note, note_until = HELP, time.monotonic() + 6.0
    period = 1.0 / max(fps, 1e-3)

    def save() -> None:
        nonlocal recording
        if recording:
            k = 1
            while (out / f"recording_{k:03d}.mp4").exists():
                k += 1
            upscale = max(1, 256 // max(recording[0].shape[:2]))
            saved.append(write_mp4(out / f"recording_{k:03d}.mp4", recording, fps, upscale))
            print(f"wrote {saved[-1]}")
        recording = None

    steps = 0
    try:
        while max_frames is None or steps < max_frames:
            t0 = time.monotonic()
            quit_now = False
            for ev in window.events():
                if ev.type == pg.QUIT:
                    quit_now = True
                elif ev.type == pg.KEYDOWN:
                    name = _key_name(pg, ev.key)
                    if name == "escape":
                        quit_now = True
                    elif name == "space":
                        if recording is None:
                            recording, rec_start = [], time.monotonic()
                        else:
                            save()
                            note, note_until = (f"saved {saved[-1]}" if saved else "nothing recorded",), t0 + 4.0
                    elif name in KEYS:
                        held.add(name)
                elif ev.type == pg.KEYUP:
                    held.discard(_key_name(pg, ev.key))
            if quit_now:
                break
            obs, _, terminated, truncated, info = env.step(action_from_keys(held))
            steps += 1
            if terminated or truncated:
                obs, info = env.reset()
            if recording is not None:
                recording.append(obs)
            lines = overlay_lines(info, backend=backend, time_mode=time_mode, num_frames=world.num_frames,
                                  scale=world.scale, recording=None if recording is None else t0 - rec_start)
            if time.monotonic() < note_until:
                lines.extend(note)
            window.show(obs, lines)
            if on_frame is not None:
                on_frame(steps, info)
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
    finally:
        save()
        window.close()
        env.close()
    return saved
