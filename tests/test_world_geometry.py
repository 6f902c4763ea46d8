"""Scale and collision from the world's canonical geometry (the same poses at any observation
size), and far pixels (sky): kept in depth, left out of scale and the collision cloud."""

from __future__ import annotations

import types
import warnings

import cv2
import gymnasium as gym
import numpy as np
import pytest

import inspatio_gym  # noqa: F401  (registers InspatioWorld-v0)
from inspatio_gym import WorldEnv
from inspatio_gym.control.limits import Obstacles
from inspatio_gym.world import ReferenceWorld, array_world, clear_world_cache, get_world, load_world, video_world
from inspatio_gym.world.sources.load import build_world, canonical_size

SIZES = (64, 128, 256)
WALK = {"time_mode": "freeze", "leash": 100.0, "move_step": 0.15}  # no leash: the walls stop the walk


def _walk(env: gym.Env, steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Poses and collided flags of one seeded walk: straight ahead into a wall, then around."""
    env.reset(seed=0)
    rng = np.random.default_rng(3)
    poses, hits = [], []
    for a in [1] * 10 + list(rng.choice([1, 1, 3, 4, 5, 6], size=steps)):
        _, _, _, _, info = env.step(int(a))
        poses.append(info["pose"])
        hits.append(bool(info["collided"]))
    return np.array(poses), np.array(hits)


def _assert_same_walks(walks: list[tuple[np.ndarray, np.ndarray]]) -> None:
    poses0, hits0 = walks[0]
    assert hits0.sum() >= 3, "the walk must run into the geometry for the test to mean anything"
    for poses, hits in walks[1:]:
        np.testing.assert_array_equal(hits, hits0)
        assert np.abs(poses - poses0).max() <= 1e-9


def test_canonical_size_keeps_the_aspect_and_one_size_per_aspect():
    assert canonical_size(64, 64) == canonical_size(256, 256) == canonical_size(32, 32) == (64, 64)
    assert canonical_size(128, 96) == canonical_size(256, 192) == (64, 48)
    assert canonical_size(96, 256) == (24, 64)


def test_same_actions_same_poses_at_every_size_procedural():
    clear_world_cache()
    opts = {"num_frames": 4, "supersample": 1}
    walks = []
    for s in SIZES:
        env = gym.make("InspatioWorld-v0", width=s, height=s, world_options=opts, **WALK)
        walks.append(_walk(env))
        w = env.unwrapped.world
        assert (w.width, w.height) == (s, s) and w.geometry_world.width == 64
    _assert_same_walks(walks)
    # the envs share one canonical world, and it is the 64 px env's world itself
    assert get_world(None, 256, 256, **opts).canonical is get_world(None, 64, 64, **opts)


def test_without_canonical_geometry_the_size_changes_the_walk():
    """The control for the test above: each world its own geometry, the walks differ."""
    walks = [_walk(WorldEnv(world=build_world(None, s, s, num_frames=4, supersample=1), **WALK)) for s in (64, 256)]
    assert not (np.array_equal(walks[0][1], walks[1][1]) and np.abs(walks[0][0] - walks[1][0]).max() <= 1e-9)


def _textured_folder(tmp_path, n=3, size=(96, 72)):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(d / f"img{i}.png"), rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return d


def _wall_depth(n=3, size=(96, 72)) -> np.ndarray:
    """A slanted, bumpy wall about 1 unit ahead, at the source resolution."""
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    z = 1.0 + 0.004 * x + 0.15 * np.sin(x / 3.0) * np.cos(y / 4.0)
    return np.repeat(z[None].astype(np.float32), n, 0)


def test_same_actions_same_poses_at_every_size_user_depth_video(tmp_path):
    d = _textured_folder(tmp_path)
    walks = []
    for s in SIZES:
        env = WorldEnv(video=d, width=s, height=s * 3 // 4, world_options={"depth": _wall_depth()}, **WALK)
        walks.append(_walk(env))
        assert env.world.geometry_world.width == 64 and env.world.geometry_world.height == 48
    _assert_same_walks(walks)


def test_depth_given_only_at_the_requested_size_is_its_own_geometry(tmp_path):
    d = _textured_folder(tmp_path)
    w = load_world(d, 128, 96, depth=np.full((3, 96, 128), 2.0, np.float32))
    assert w.canonical is None and w.geometry_world is w and w.scale == pytest.approx(2.0)
    assert w.meta["geometry"].startswith("own")


def test_a_given_world_is_its_own_geometry_unless_it_carries_one():
    big = build_world(None, 96, 96, num_frames=3, supersample=1)
    assert load_world(big, 96, 96).canonical is None
    small = build_world(None, 64, 64, num_frames=3, supersample=1)
    big.set_canonical(small)
    assert load_world(big, 96, 96).canonical is small and big.scale == small.scale
    with pytest.raises(ValueError, match="2 frames, this world 3"):
        big.set_canonical(build_world(None, 64, 64, num_frames=2, supersample=1))


# -- far pixels ----------------------------------------------------------------------------


def _world(far=None, **kw) -> ReferenceWorld:
    f = np.zeros((2, 8, 8, 3), np.uint8)
    d = np.ones((2, 8, 8), np.float32)
    d[:, :4] = 50.0  # the upper half: the sky's depth estimate
    return ReferenceWorld(f, d, np.array([[8.0, 0, 3.5], [0, 8.0, 3.5], [0, 0, 1]]), np.tile(np.eye(4), (2, 1, 1)),
                          10.0, far=far, **kw)


def test_far_validation():
    sky = np.zeros((2, 8, 8), bool)
    sky[:, :4] = True
    assert _world(sky).far.dtype == bool and _world(sky.astype(np.uint8)).far.sum() == 64
    assert _world(np.zeros((2, 8, 8), bool)).far is None  # no far pixel: stored as None
    with pytest.raises(ValueError, match=r"far must have shape \(2, 8, 8\).*\(2, 8\)"):
        _world(sky[:, 0])
    with pytest.raises(ValueError, match="far must be a bool mask .*float"):
        _world(sky * 0.5)


def test_far_pixels_are_left_out_of_scale_and_collision():
    sky = np.zeros((2, 8, 8), bool)
    sky[:, :4] = True
    plain, with_sky = _world(), _world(sky)
    assert plain.scale == pytest.approx(25.5) and with_sky.scale == pytest.approx(1.0)
    np.testing.assert_array_equal(with_sky.depth, plain.depth)  # depth keeps its estimate
    pts = Obstacles(with_sky, voxel=0.01).points.numpy()
    assert len(pts) and np.abs(pts[:, 2] - 1.0).max() < 0.01  # only the solid wall at z = 1
    assert np.abs(Obstacles(plain, voxel=0.01).points.numpy()[:, 2] - 50.0).min() < 0.01


def test_all_far_world_falls_back_to_all_valid_depth():
    assert _world(np.ones((2, 8, 8), bool)).scale == pytest.approx(25.5)


def test_array_world_fits_far_like_depth():
    frames = np.zeros((2, 24, 24, 3), np.uint8)
    depth = np.ones((2, 30, 40), np.float32)
    far = np.zeros((2, 30, 40), bool)
    far[:, :10] = True
    depth[far] = 100.0
    w = array_world(frames, depth=depth, far=far, src_size=(40, 30))
    np.testing.assert_array_equal(w.far, w.depth == 100.0)
    assert w.far.any() and not w.far.all()
    assert array_world(frames, depth=np.ones((2, 24, 24), np.float32)).far is None


def test_preprocessed_far_goes_through_the_crop_and_resize(tmp_path, monkeypatch):
    from inspatio_gym.world.sources import reconstructed

    T, h, w = 4, 30, 40
    depth = np.ones((T, h, w), np.float32)
    far = np.zeros((T, h, w), bool)
    far[:, :8, 5:] = True  # sky at the top, cut by the centre crop on the left
    depth[far] = 100.0
    K = np.array([[40.0, 0, 19.5], [0, 40.0, 14.5], [0, 0, 1]])
    pre = types.SimpleNamespace(frames=np.zeros((T, h, w, 3), np.uint8), depth=depth, K=K,
                                c2w=np.tile(np.eye(4), (T, 1, 1)), fps=12.0, report={}, far=far)
    monkeypatch.setattr(reconstructed, "preprocessed", lambda *a, **k: (pre, True))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # never read: preprocessing is faked
    world = video_world(clip, 24, 24, stride=2)
    assert world.far.shape == (2, 24, 24)
    np.testing.assert_array_equal(world.far, world.depth == 100.0)
    assert world.scale == pytest.approx(1.0) and world.fps == 6.0 and world.meta["fps_source"] == "container"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_world(clip, 48, 48).canonical.far is not None  # the canonical world has it too
    del pre.far  # an older Preprocessed without the attribute
    assert video_world(clip, 24, 24).far is None


def test_bounded_clearance_blocks_exactly_as_the_exact_one(room_world):
    """Obstacles.blocked queries the k-d tree bounded by the body radius; the moves it
    blocks are those the exact clearances block (escapes included)."""
    w = room_world
    obst = Obstacles(w, voxel=0.02 * w.scale)
    rs = np.random.default_rng(3)
    start = w.c2w[rs.integers(0, w.num_frames, 400), :3, 3] + rs.normal(0, 0.6 * w.scale, (400, 3))
    end = start + rs.normal(0, 0.2 * w.scale, (400, 3))
    radius = 0.06 * w.scale
    got = obst.blocked(start, end, radius)
    k = int(np.clip(np.ceil(np.linalg.norm(end - start, axis=1).max() / (0.5 * radius)), 1, 64))
    fr = np.arange(1, k + 1) / k
    clr = obst.clearance((start[:, None] + fr[None, :, None] * (end - start)[:, None]).reshape(-1, 3)).reshape(-1, k)
    here = obst.clearance(start)
    want = ((clr < radius) & (clr < here[:, None] - 1e-9)).any(1)
    assert np.array_equal(got, want)
    assert 10 < want.sum() < 390  # both kinds of move are tested
    bounded = obst.clearance(start, upper=radius)
    assert np.array_equal(bounded, np.where(here < radius, here, np.inf))
