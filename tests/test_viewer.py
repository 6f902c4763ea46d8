"""The live viewers' shared parts and the desktop window (pygame's dummy video driver)."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_gym.viewer.keys import action_from_keys, overlay_lines, pose_readout

WORLD = "procedural:num_frames=12"


def test_held_keys_add_up_and_clip():
    np.testing.assert_array_equal(action_from_keys({"w", "left"}), [0, 0, 1, -1, 0, 0])
    np.testing.assert_array_equal(action_from_keys({"w", "up"}), [0, 0, 1, 0, 0, 0])  # two forwards: still one step
    np.testing.assert_array_equal(action_from_keys({"w", "s", "x"}), np.zeros(6))  # opposites cancel, unknown ignored


def test_pose_readout_signs():
    T = np.eye(4)
    T[:3, 3] = [2.0, 0.0, 4.0]
    pos, yaw, pitch = pose_readout(T, scale=2.0)
    np.testing.assert_allclose(pos, [1, 0, 2])
    assert yaw == 0 and pitch == 0
    a = np.radians(30)
    right = np.eye(4)
    right[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]  # turned to the right
    assert pose_readout(right, 1.0)[1] == pytest.approx(30)
    info = {"pose": right, "frame": 3, "coverage": 0.5, "blocked": "coverage"}
    lines = overlay_lines(info, backend="warp", time_mode="loop", num_frames=12, scale=1.0, recording=1.0)
    assert lines[0] == "warp | time loop | frame 4/12" and "yaw +30" in lines[1]
    assert "blocked: coverage" in lines[2] and lines[3].startswith("REC")


@pytest.fixture
def dummy_display(monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    yield
    import pygame

    pygame.display.quit()


def test_human_render_mode_shows_frames_in_a_window(dummy_display):
    import gymnasium as gym

    import inspatio_gym  # noqa: F401

    env = gym.make("InspatioWorld-v0", world=WORLD, render_mode="human")
    obs, _ = env.reset(seed=0)
    assert env.render() is None
    win = env.unwrapped._window
    assert win.surface is not None and win.surface.get_size() == (512, 512)
    env.step(1)
    import pygame

    shown = pygame.surfarray.array3d(win.surface).swapaxes(0, 1)[::8, ::8]  # the 64 px view, scaled 8x
    np.testing.assert_array_equal(shown, env.unwrapped._last.view.rgb[0])
    env.close()


def test_no_display_is_said_plainly(monkeypatch, tmp_path):
    pytest.importorskip("pygame")
    import gymnasium as gym

    from inspatio_gym.cli import main
    from inspatio_gym.io.window import NoDisplayError, Window

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(NoDisplayError, match="serve"):  # the viewer is nothing without its window
        Window()
    assert main(["play", "--out", str(tmp_path)]) == 2
    # the env's human mode warns and draws offscreen (Gymnasium's checker makes every render mode)
    with pytest.warns(RuntimeWarning, match="without a display"):
        env = gym.make("InspatioWorld-v0", world=WORLD, render_mode="human")
    env.reset(seed=0)
    env.step(1)
    env.close()
    import pygame

    pygame.display.quit()


def test_record_video_wrapper_writes_an_mp4(tmp_path):
    pytest.importorskip("moviepy")
    import gymnasium as gym

    env = gym.wrappers.RecordVideo(gym.make("InspatioWorld-v0", world=WORLD, render_mode="rgb_array"),
                                   str(tmp_path / "videos"), episode_trigger=lambda e: True, disable_logger=True)
    env.reset(seed=0)
    for _ in range(8):
        env.step(1)
    env.close()
    assert [p.suffix for p in (tmp_path / "videos").iterdir()] == [".mp4"]


def test_play_walks_records_and_quits(dummy_display, tmp_path):
    import pygame

    from inspatio_gym.io.window import Window
    from inspatio_gym.viewer.play import play

    script = {1: [(pygame.KEYDOWN, pygame.K_w)], 3: [(pygame.KEYDOWN, pygame.K_SPACE)],
              6: [(pygame.KEYUP, pygame.K_w), (pygame.KEYDOWN, pygame.K_RIGHT)],
              9: [(pygame.KEYDOWN, pygame.K_SPACE)], 11: [(pygame.KEYDOWN, pygame.K_ESCAPE)]}
    tick = {"k": 0}
    win = Window("test")
    real_events = win.events

    def events():
        tick["k"] += 1
        real_events()
        return [pygame.event.Event(t, key=k) for t, k in script.get(tick["k"], [])]

    win.events = events
    infos = []
    saved = play({"world": WORLD, "width": 64, "height": 64}, out=tmp_path, fps=200, window=win,
                 on_frame=lambda k, info: infos.append(info))
    assert len(infos) == 10  # Esc at the 11th tick, before its step
    z = [pose_readout(i["pose"], 1.0)[0][2] for i in infos]
    yaw = [pose_readout(i["pose"], 1.0)[1] for i in infos]
    assert z[4] > z[0] and yaw[-1] > yaw[5]  # walked forward, then turned right
    assert [p.name for p in saved] == ["recording_001.mp4"] and saved[0].is_file()
