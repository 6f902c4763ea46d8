"""WorldEnv: the Gymnasium contract, the constraint, determinism and bad input."""

from __future__ import annotations

import warnings

import cv2
import gymnasium as gym
import numpy as np
import pytest

import inspatio_gym
from inspatio_gym import WorldEnv
from inspatio_gym.world import DepthPriorWarning, VideoError

from .conftest import real_clip


def _make(world, **kw) -> WorldEnv:
    return WorldEnv(world=world, **kw)


def test_check_env_on_the_default_registered_world():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(gym.make("InspatioWorld-v0").unwrapped)
    sb3_check_env(gym.make("InspatioWorld-v0").unwrapped)


def test_registered_ids_and_default_make():
    assert "InspatioWorld-v0" in gym.registry
    env = gym.make("InspatioWorld-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["frame"] == 0 and info["coverage"] == 1.0
    np.testing.assert_allclose(info["pose"], np.eye(4))
    assert env.spec.max_episode_steps == 500


@pytest.mark.parametrize("obs_mode", ["rgb", "dict"])
@pytest.mark.parametrize("action_mode", ["discrete", "continuous", "orbit"])
def test_gymnasium_and_sb3_check_env(room_world, obs_mode, action_mode):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = _make(room_world, obs_mode=obs_mode, action_mode=action_mode)
    check_env(env, skip_render_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3 notes on unbounded pose boxes
        sb3_check_env(_make(room_world, obs_mode=obs_mode, action_mode=action_mode))


def test_dict_observation_contents(room_world):
    env = _make(room_world, obs_mode="dict", time_mode="play")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_allclose(obs["pose"], [0, 0, 0, 1, 0, 0, 0], atol=1e-6)
    assert obs["time"][0] == 0.0 and obs["mask"].min() == 255
    for _ in range(4):
        obs, *_ = env.step(1)
    assert obs["pose"][2] == pytest.approx(4 * env.control.move_step, rel=1e-5)  # forward, in scale units
    assert obs["time"][0] == pytest.approx(4 / (room_world.num_frames - 1))
    # depth is z-depth / (depth_range * scale) as uint8
    d = obs["depth"][..., 0].astype(np.float64) / 255 * env.depth_range * room_world.scale
    assert 0.5 * room_world.scale < np.median(d) < 2 * room_world.scale


def test_determinism_same_seed_same_actions(room_world):
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (30, 6)).astype(np.float32)
    runs = []
    for _ in range(2):
        env = _make(room_world, action_mode="continuous")
        obs, _ = env.reset(seed=7)
        seq = [obs]
        for a in actions:
            seq.append(env.step(a)[0])
        runs.append(np.stack(seq))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0][0], runs[0][-1])


def test_determinism_across_rebuilt_worlds():
    from inspatio_gym.world import clear_world_cache

    runs = []
    for _ in range(2):
        clear_world_cache()
        env = gym.make("InspatioWorld-v0", world="procedural:num_frames=6", action_mode="continuous")
        env.reset(seed=3)
        env.action_space.seed(3)
        runs.append(np.stack([env.step(env.action_space.sample())[0] for _ in range(5)]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_explicit_pose_beyond_pitch_limit_is_kept(room_world):
    from inspatio_gym.geometry import make_pose, rot_x

    env = _make(room_world, time_mode="freeze", pitch_limit=30.0)
    env.reset(seed=0)
    up60 = make_pose(rot_x(np.radians(60)), [0, 0, 0])
    obs_pose, *_ = env.step_pose(up60)
    obs_noop, _, _, _, info = env.step(0)
    np.testing.assert_array_equal(obs_noop, obs_pose)  # a noop does not snap the view back
    np.testing.assert_allclose(info["pose"], up60, atol=1e-9)
    _, _, _, _, info = env.step(8)  # look down: comes back towards the range
    assert np.degrees(np.arcsin(-info["pose"][1, 2])) == pytest.approx(57.0, abs=1e-6)
    with pytest.raises(ValueError, match="4x4"):
        env.step_pose(np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        env.step_pose(bad)


def test_time_modes(room_world):
    T = room_world.num_frames
    frames = {}
    for mode in ("play", "loop", "pingpong", "freeze"):
        env = _make(room_world, time_mode=mode)
        env.reset(seed=0)
        seq, truncs = [], []
        for _ in range(2 * T):
            _, _, term, trunc, info = env.step(0)
            seq.append(info["frame"])
            truncs.append(trunc)
            assert not term
        frames[mode] = (seq, truncs)
    seq, truncs = frames["play"]
    assert seq[T - 2] == T - 1 and truncs[T - 2] and not any(truncs[: T - 2])
    assert frames["loop"][0][T - 1] == 0 and frames["loop"][0][T] == 1
    assert frames["pingpong"][0][T - 2] == T - 1 and frames["pingpong"][0][T - 1] == T - 2
    assert set(frames["freeze"][0]) == {0} and not any(frames["freeze"][1])
    env = _make(room_world)
    _, info = env.reset(seed=0, options={"start_frame": 5})
    assert info["frame"] == 5
    np.testing.assert_allclose(info["pose"], room_world.c2w[5])


# -- the explicit spatial constraint ----------------------------------------------------------


def _clearance_to_scene(world, position: np.ndarray) -> float:
    import torch

    scene = world.meta["scene"]
    return float(scene.distance(torch.tensor(position[None], dtype=torch.float32))[0])


def test_walking_into_a_wall_is_blocked(room_world):
    env = _make(room_world, time_mode="freeze", leash=100.0)
    env.reset(seed=0)
    positions, collided = [], []
    for _ in range(200):  # straight ahead: into the seen far wall or an object before it
        _, _, _, _, info = env.step(1)
        positions.append(info["pose"][:3, 3])
        collided.append(info["collided"])
    assert any(collided), "never blocked"
    first = collided.index(True)
    assert all(collided[first:]), "a blocked walk must stay blocked"
    np.testing.assert_allclose(positions[-1], positions[first - 1 if first else 0])
    radius = env.control.collision_radius * room_world.scale
    assert _clearance_to_scene(room_world, positions[-1]) > 0.5 * radius  # stopped before the surface
    assert _clearance_to_scene(room_world, positions[-1]) < 3 * radius + env.control.move_step * room_world.scale


@pytest.mark.parametrize("action_mode", ["discrete", "continuous"])
def test_leash_holds(room_world, action_mode):
    env = _make(room_world, time_mode="freeze", collision=False, leash=0.5, action_mode=action_mode)
    env.reset(seed=0)
    path = room_world.c2w[:, :3, 3]
    worst, leashed = 0.0, False
    for k in range(120):
        if action_mode == "continuous":
            a = np.array([0.3, 0, 1, 0.2, 0, 0] if k % 2 else [0, 0, 1, 0, 0, 0], np.float32)
        else:
            a = 1 if k % 3 else 6
        _, _, _, _, info = env.step(a)
        d = np.linalg.norm(path - info["pose"][:3, 3], axis=1).min()
        worst = max(worst, d)
        leashed |= info["leashed"]
    assert leashed
    assert worst <= 0.5 * room_world.scale + 1e-9


def test_long_video_cannot_be_walked_through():
    """The collision cloud is voxel-merged: 300 frames of a wall stay as solid as 8."""
    from inspatio_gym.world import array_world

    frames = np.random.default_rng(0).integers(0, 255, (300, 32, 32, 3), dtype=np.uint8)
    for T in (8, 300):
        world = array_world(frames[:T], depth=np.ones((T, 32, 32), np.float32))  # a wall at z = 1
        env = WorldEnv(world=world, time_mode="freeze", leash=3.0)
        env.reset(seed=0)
        for _ in range(60):
            _, _, _, _, info = env.step(1)
        assert info["collided"], T
        assert 1.0 - 2 * env.control.collision_radius < info["pose"][2, 3] < 1.0


def test_pitch_clamp_and_no_roll(room_world):
    env = _make(room_world, time_mode="freeze", action_mode="continuous", pitch_limit=30.0, min_coverage=0.0)
    env.reset(seed=0)
    for _ in range(40):
        _, _, _, _, info = env.step(np.array([0, 0, 0, 0, 1, 1], np.float32))  # pitch up + roll
    axis = info["pose"][:3, 2]
    elevation = np.degrees(np.arcsin(-axis[1]))
    assert elevation == pytest.approx(30.0, abs=1e-6)
    assert abs(info["pose"][1, 0]) < 1e-9  # x axis stays level: no roll unless allow_roll


def test_turn_left_then_right_returns_identical_observation(room_world):
    env = _make(room_world, time_mode="freeze", min_coverage=0.0)  # the turns, not the coverage floor
    obs0, _ = env.reset(seed=0)
    for _ in range(2):
        env.step(1)
    ref, *_ = env.step(0)
    n = 13
    for _ in range(n):
        env.step(5)
    mid, *_ = env.step(0)
    for _ in range(n):
        env.step(6)
    back, *_ = env.step(0)
    assert not np.array_equal(mid, ref)
    np.testing.assert_array_equal(back, ref)


def test_orbit_mode_moves_around_the_pivot(room_world):
    env = _make(room_world, time_mode="freeze", action_mode="orbit", collision=False)
    env.reset(seed=0)
    scale = room_world.scale
    for _ in range(5):
        _, _, _, _, info = env.step(np.array([0, 1, 0], np.float32))  # + yaw orbits left
    c = info["pose"][:3, 3]
    pivot = np.array([0, 0, scale])
    assert c[0] < 0 and np.linalg.norm(c - pivot) == pytest.approx(scale, rel=1e-9)
    axis = info["pose"][:3, 2]
    np.testing.assert_allclose(c + scale * axis, pivot, atol=1e-9)  # still looking at the pivot


# -- bad input ------------------------------------------------------------------------------


def test_bad_actions(room_world):
    env = _make(room_world)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(9)
    with pytest.raises(ValueError, match="discrete"):
        env.step(np.zeros(6, np.float32))
    cont = _make(room_world, action_mode="continuous")
    cont.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        cont.step(np.array([np.nan, 0, 0, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="outside"):
        cont.step(np.array([2, 0, 0, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="discrete"):
        env.step(True)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        cont.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        cont.step(3)


def test_bad_options(room_world, tmp_path):
    with pytest.raises(ValueError, match="unknown env option.*bogus"):
        gym.make("InspatioWorld-v0", bogus=1)
    with pytest.raises(ValueError, match="unknown action_mode 'fly'"):
        _make(room_world, action_mode="fly")
    with pytest.raises(ValueError, match="unknown time_mode"):
        _make(room_world, time_mode="rewind")
    env = _make(room_world)
    with pytest.raises(ValueError, match="unknown reset option.*start"):
        env.reset(options={"start": 3})
    with pytest.raises(ValueError, match="start_frame 99"):
        env.reset(options={"start_frame": 99})
    with pytest.raises(ValueError, match="procedural world option 'colour'"):
        gym.make("InspatioWorld-v0", world="procedural:colour=red").reset()
    with pytest.raises(ValueError, match="seed='abc'"):
        gym.make("InspatioWorld-v0", world="procedural:seed=abc").reset()
    with pytest.raises(ValueError, match="move_step must be >= 0"):
        gym.make("InspatioWorld-v0", move_step=-1)
    with pytest.raises(ValueError, match="allow_roll must be True or False"):
        gym.make("InspatioWorld-v0", allow_roll="no")
    with pytest.raises(ValueError, match="pitch_limit must be a finite number"):
        gym.make("InspatioWorld-v0", pitch_limit="a")
    with pytest.raises(ValueError, match="alpha must be"):
        gym.make("InspatioWorld-v0", backend_options={"alpha": -1})
    with pytest.raises(ValueError, match="neighbours must be an integer"):
        gym.make("InspatioWorld-v0", backend_options={"neighbours": 1.5})
    with pytest.raises(ValueError, match="unknown backend 'nerf'"):
        gym.make("InspatioWorld-v0", backend="nerf")
    with pytest.raises(TypeError, match="options must be a dict"):
        env.reset(options=[1])
    assert gym.make("InspatioWorld-v0", move_step=np.float32(0.1)).unwrapped.control.move_step == pytest.approx(0.1)


def test_bad_videos(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        gym.make("InspatioWorld-v0", video=str(missing))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 1000)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        gym.make("InspatioWorld-v0", video=str(corrupt)).reset()
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32))
    writer.release()
    with pytest.raises(VideoError, match="empty.avi"):
        gym.make("InspatioWorld-v0", video=str(empty)).reset()


def _write_clip(path, frames: int = 12, size=(80, 60)) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(frames):
        w.write(np.roll(base, i, axis=1))
    w.release()


def test_video_world_with_user_depth(tmp_path):
    clip = tmp_path / "clip.avi"
    _write_clip(clip)
    with pytest.warns(DepthPriorWarning, match="ground-plane prior"):  # a shifted image: no parallax
        env = gym.make("InspatioWorld-v0", video=str(clip), world_options={"max_frames": 8})
        _, info = env.reset(seed=0)
    assert env.unwrapped.world.depth_source == "ground_plane_prior"
    assert info["depth_source"] == "ground_plane_prior" and "rotation only" in info["geometry_warning"]
    with pytest.warns(DepthPriorWarning, match="plane prior"):
        env = gym.make("InspatioWorld-v0", video=str(clip), world_options={"max_frames": 8, "geometry": "plane"})
        env.reset(seed=0)
    assert env.unwrapped.world.depth_source == "plane_prior"
    # depth at the source resolution is cropped and resized like the frames
    np.save(tmp_path / "depth.npy", np.full((12, 60, 80), 2.5, np.float32))
    env = gym.make("InspatioWorld-v0", video=str(clip), world_options={"depth": str(tmp_path / "depth.npy")})
    env.reset(seed=0)
    w = env.unwrapped.world
    assert w.depth_source == "user" and w.depth.shape == (12, 64, 64) and w.scale == pytest.approx(2.5)
    np.save(tmp_path / "bad.npy", np.ones((12, 10, 10), np.float32))
    with pytest.raises(ValueError, match=r"depth shape \(12, 10, 10\)"):
        gym.make("InspatioWorld-v0", video=str(clip), world_options={"depth": str(tmp_path / "bad.npy")}).reset()
    np.savez(tmp_path / "geo.npz", depth=np.ones((12, 64, 64), np.float32), c2w=np.tile(np.eye(4), (5, 1, 1)))
    with pytest.raises(ValueError, match="poses must be"):
        gym.make("InspatioWorld-v0", video=str(clip), world_options={"depth": str(tmp_path / "geo.npz")}).reset()


@pytest.mark.parametrize("name", ["cup_pour_static.mp4", "coffee_martini_static.mp4", "highway_static.avi",
                                  "7scenes_redkitchen/frames"])
def test_real_clips_run_50_steps(name, no_prior_warning):
    path = real_clip(name)
    env = gym.make("InspatioWorld-v0", video=str(path), world_options={"max_frames": 60}, time_mode="loop")
    obs, info = env.reset(seed=0)
    world = env.unwrapped.world
    if name.startswith("7scenes"):  # the folder's depth PNGs are not frames
        assert world.num_frames == 50 and np.abs(np.diff(world.frames.mean(axis=(1, 2, 3)))).max() < 20
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs, r, term, trunc, info = env.step(int(rng.integers(9)))
        assert obs.shape == (64, 64, 3) and np.isfinite(info["pose"]).all()
    assert obs.std() > 1.0  # not a blank image


def test_real_clip_check_env(no_prior_warning):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    path = real_clip("cup_pour_static.mp4")
    env = WorldEnv(video=str(path), world_options={"max_frames": 30})
    check_env(env)
    sb3_check_env(WorldEnv(video=str(path), world_options={"max_frames": 30}))


def test_video_named_like_a_procedural_spec_is_a_video(tmp_path, no_prior_warning):
    clip = tmp_path / "procedural_walk.avi"
    _write_clip(clip, frames=5)
    env = gym.make("InspatioWorld-v0", video=str(clip), world_options={"max_frames": 3})
    assert env.unwrapped.metadata["render_fps"] == pytest.approx(10.0)  # known before reset
    env.reset(seed=0)
    assert env.unwrapped.world.num_frames == 3 and env.unwrapped.world.name == "procedural_walk.avi"
    with pytest.raises(ValueError, match="use video="):
        gym.make("InspatioWorld-v0", world=str(clip))


def test_render_and_debug_view(room_world):
    env = _make(room_world, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(env.render(), obs)
    env.step(1)
    dv = env.debug_view()
    assert dv.shape == (64, 192, 3)
    assert env.metadata["render_fps"] == room_world.fps
    assert inspatio_gym.__version__
