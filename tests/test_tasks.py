"""Tasks: registered ids, goal observations, sane rewards (an oracle succeeds, random rarely)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import inspatio_gym  # noqa: F401  (registers the ids)

WORLD = "procedural:num_frames=12"


def _oracle_action(obs) -> int:
    """Turn towards the goal, then walk forward."""
    _, c, s = obs["goal"]
    heading = np.arctan2(s, c)
    if heading > np.radians(4):
        return 6  # turn right
    if heading < -np.radians(4):
        return 5  # turn left
    return 1


def _run(env, policy, episodes: int, seed: int) -> tuple[float, float]:
    succ, ret = 0, 0.0
    rng = np.random.default_rng(seed)
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        done = False
        while not done:
            a = policy(obs) if policy else int(rng.integers(9))
            obs, r, term, trunc, info = env.step(a)
            ret += r
            done = term or trunc
        succ += int(info["success"])
    return succ / episodes, ret / episodes


def test_registered_task_ids():
    for tid in ("InspatioPointNav-v0", "InspatioImageNav-v0", "InspatioExplore-v0"):
        assert tid in gym.registry
    env = gym.make("InspatioPointNav-v0", world=WORLD)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"rgb", "goal"} and obs["goal"].dtype == np.float32
    assert 0.25 - 1e-6 <= obs["goal"][0] <= 0.6 + 1e-6 and not info["success"]
    assert env.observation_space.contains(obs)


def test_pointnav_oracle_succeeds_and_random_rarely_does():
    # the oracle turns to face the goal and walks: goals are placed so the coverage floor allows it
    env = gym.make("InspatioPointNav-v0", world=WORLD, max_episode_steps=60)
    oracle, oracle_ret = _run(env, _oracle_action, 6, seed=0)
    random, random_ret = _run(env, None, 6, seed=0)
    assert oracle >= 0.8, oracle
    assert random <= 0.34, random
    assert oracle_ret > random_ret + 3


def test_pointnav_goals_are_seeded_reachable_and_free():
    env = gym.make("InspatioPointNav-v0", world=WORLD)
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    c, _ = env.reset(seed=6)
    np.testing.assert_array_equal(a["goal"], b["goal"])
    assert not np.array_equal(a["goal"], c["goal"])
    u = env.unwrapped
    core, task = u.core, u.episodes.task
    obst = core.obstacles(0)
    for seed in range(10):
        env.reset(seed=seed)
        g = task.goal[0:1]
        assert obst.clearance(g)[0] >= 1.5 * u.control.collision_radius * u.world.scale
        assert obst.path_distance(g)[0] <= u.control.leash * u.world.scale
        start = core.rig.c2w(False)[:, :3, 3]
        assert not obst.blocked(start, g, u.control.collision_radius * u.world.scale)[0]


def test_reward_shape_progress_success_and_step_cost():
    env = gym.make("InspatioPointNav-v0", world=WORLD, max_episode_steps=80)
    obs, _ = env.reset(seed=1)
    d0 = obs["goal"][0]
    obs, r, term, trunc, info = env.step(0)  # noop: no progress, pays the step cost
    assert r == pytest.approx(-0.01) and not term
    total, steps = 0.0, 0
    for _ in range(80):
        obs, r, term, trunc, info = env.step(_oracle_action(obs))
        total += r
        steps += 1
        if term or trunc:
            break
    assert term and info["success"]
    # progress adds up to 10 x the distance covered, plus the bonus, minus the step costs
    assert total == pytest.approx(10 * (d0 - info["distance"]) + 5 - 0.01 * steps, abs=1e-4)


def test_imagenav_goal_image_and_explore_reward():
    env = gym.make("InspatioImageNav-v0", world=WORLD)
    obs, _ = env.reset(seed=0)
    assert obs["goal_image"].shape == (64, 64, 3) and obs["goal_image"].std() > 1
    assert env.observation_space.contains(obs)
    ex = gym.make("InspatioExplore-v0", world=WORLD)
    obs, info = ex.reset(seed=0)
    start = info["explored"]
    assert 0 < start < 1
    rewards = []
    for _ in range(12):  # turning around sees new parts of the room
        obs, r, term, trunc, info = ex.step(6)
        rewards.append(r)
    assert sum(rewards) > 0.02 and info["explored"] == pytest.approx(start + sum(rewards), abs=1e-9)
    obs, r, *_ = ex.step(0)
    assert r == 0.0  # standing still sees nothing new


def test_task_option_errors():
    with pytest.raises(ValueError, match="unknown task 'fetch'"):
        gym.make("InspatioWorld-v0", task="fetch")
    with pytest.raises(ValueError, match="bad task_options"):
        gym.make("InspatioPointNav-v0", task_options={"radius": 1})


def test_vector_pointnav_lanes_match_single_envs():
    venv = gym.make_vec("InspatioPointNav-v0", num_envs=2, world=WORLD, max_episode_steps=30)
    obs, _ = venv.reset(seed=4)
    acts = np.random.default_rng(0).integers(0, 9, (12, 2))
    vec = [obs] + [venv.step(a)[0] for a in acts]
    for lane in range(2):
        env = gym.make("InspatioPointNav-v0", world=WORLD, max_episode_steps=30)
        o, _ = env.reset(seed=4 + lane)
        single = [o] + [env.step(int(a[lane]))[0] for a in acts]
        for s, v in zip(single, vec):
            np.testing.assert_array_equal(s["goal"], v["goal"][lane])
            np.testing.assert_array_equal(s["rgb"], v["rgb"][lane])


def test_a_task_instance_is_not_shared_between_envs():
    from inspatio_gym.tasks import PointNavTask

    task = PointNavTask()
    a = gym.make("InspatioWorld-v0", world=WORLD, task=task)
    b = gym.make("InspatioWorld-v0", world=WORLD, task=task)
    oa, _ = a.reset(seed=1)
    b.reset(seed=2)
    o2, *_ = a.step(0)
    np.testing.assert_allclose(o2["goal"][0], oa["goal"][0], atol=1e-6)  # b's reset did not move a's goal


def test_goal_validity_is_reported():
    env = gym.make("InspatioPointNav-v0", world=WORLD)
    _, info = env.reset(seed=3)
    assert info["goal_valid"] is True
