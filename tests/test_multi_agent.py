"""PettingZoo: the API and seed tests, shared world, separation, cooperative reward, SuperSuit -> SB3."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pettingzoo = pytest.importorskip("pettingzoo")

import inspatio_gym  # noqa: E402

WORLD = "procedural:num_frames=10"


def _env(**kw):
    return inspatio_gym.parallel_env(world=WORLD, max_cycles=25, **kw)


def test_parallel_api_test_passes():
    from pettingzoo.test import parallel_api_test

    parallel_api_test(_env(num_agents=3), num_cycles=30)


def test_parallel_seed_test_passes():
    from pettingzoo.test import parallel_seed_test

    parallel_seed_test(lambda: _env(num_agents=2), num_cycles=20)


def test_agents_share_one_world_and_one_batch():
    env = _env(num_agents=3)
    obs, infos = env.reset(seed=0)
    core = env.episodes.core
    assert core.n == 3 and len({id(w) for w in core.worlds}) == 1
    pos = np.stack([infos[a]["pose"][:3, 3] for a in env.agents])
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(3) * 1e9
    assert d.min() >= env.separation * env.world.scale  # they start apart
    assert not np.array_equal(obs["camera_0"], obs["camera_2"])


def test_agents_keep_their_distance():
    env = _env(num_agents=2, separation=0.2)
    obs, infos = env.reset(seed=0)
    lim = 0.2 * env.world.scale
    blocked = False
    for _ in range(20):  # camera_0 (left) strafes right into camera_1
        obs, r, te, tr, infos = env.step({"camera_0": 4, "camera_1": 0})
        p0, p1 = infos["camera_0"]["pose"][:3, 3], infos["camera_1"]["pose"][:3, 3]
        assert np.linalg.norm(p0 - p1) >= lim - 1e-9
        blocked |= infos["camera_0"]["collided"]
    assert blocked


def test_cooperative_explore_reward_is_shared():
    env = _env(num_agents=2)
    env.reset(seed=0)
    total = 0.0
    for _ in range(8):
        obs, rewards, te, tr, infos = env.step({"camera_0": 5, "camera_1": 6})  # look both ways
        assert rewards["camera_0"] == rewards["camera_1"]
        total += rewards["camera_0"]
    assert total > 0.02
    assert infos["camera_0"]["explored"] == infos["camera_1"]["explored"]


def test_episode_ends_for_all_agents_and_bad_actions():
    env = _env(num_agents=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step({"camera_0": 0})
    for t in range(25):
        obs, r, te, tr, info = env.step({"camera_0": 0, "camera_1": 0})
    assert all(tr.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"camera_0": 0, "camera_1": 0})
    with pytest.raises(ValueError, match="num_agents"):
        inspatio_gym.parallel_env(num_agents=0)


def test_trains_through_supersuit_into_sb3():
    ss = pytest.importorskip("supersuit")
    from stable_baselines3 import PPO

    env = _env(num_agents=2, obs_mode="rgb")
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, 1, num_cpus=0, base_class="stable_baselines3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PPO("CnnPolicy", vec, n_steps=8, batch_size=16, n_epochs=1, verbose=0)
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(total_timesteps=32)
    assert any(not np.allclose(a.numpy(), b.detach().numpy()) for a, b in zip(before, model.policy.parameters()))


def test_a_still_agent_is_not_blocked_and_spawns_must_fit():
    env = _env(num_agents=2, separation=0.2)
    env.reset(seed=0)
    for _ in range(20):
        _, _, _, _, infos = env.step({"camera_0": 4, "camera_1": 0})
        assert not infos["camera_1"]["collided"]  # a noop never collides
    with pytest.raises(ValueError, match="do not fit"):
        _env(num_agents=12, separation=0.3).reset(seed=0)


def test_shared_explore_restarts_with_each_episode_and_pays_the_union():
    env = _env(num_agents=2, task_options={"voxel": 0.15})
    assert env.episodes.task.shared  # options do not switch cooperation off
    env.reset(seed=0)
    task, core = env.episodes.task, env.episodes.core
    seen0 = task.team[0].copy()
    obs, rewards, *_ , infos = env.step({"camera_0": 5, "camera_1": 6})
    vis = task._visible(core, env._last.result, 0) | task._visible(core, env._last.result, 1)
    assert rewards["camera_0"] == pytest.approx((vis & ~seen0).sum() / len(seen0))
    env.reset(seed=0)
    np.testing.assert_array_equal(task.team[0], seen0)  # a new episode starts from what the team sees


def test_state_matches_state_space():
    env = _env(num_agents=2)
    env.reset(seed=0)
    assert env.state_space.contains(env.state())
