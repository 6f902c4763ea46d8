"""The natively batched vector env: make_vec, lane-by-lane equality with WorldEnv, autoreset."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from inspatio_gym.envs.vector_env import WorldVectorEnv

WORLD = "procedural:num_frames=12"


def test_make_vec_returns_the_batched_env():
    venv = gym.make_vec("InspatioWorld-v0", num_envs=4, world=WORLD)
    assert isinstance(venv.unwrapped, WorldVectorEnv) and venv.num_envs == 4
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = venv.reset(seed=0)
    assert obs.shape == (4, 64, 64, 3) and info["pose"].shape == (4, 4, 4) and info["_pose"].all()
    assert venv.unwrapped.max_episode_steps == 500
    # one world object shared by the lanes (and one reference cache in the backend)
    assert len({id(w) for w in venv.unwrapped.worlds}) == 1


def _single_run(seed: int, actions: list, **kw):
    env = gym.make("InspatioWorld-v0", world=WORLD, **kw)
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False, False)]
    for a in actions:
        o, r, te, tr, _ = env.step(a)
        if out[-1][2] or out[-1][3]:  # NEXT_STEP autoreset: the step after an end is a reset
            o, _ = env.reset()
            r, te, tr = 0.0, False, False
        out.append((o, r, te, tr))
    return out


@pytest.mark.parametrize("kw", [{}, {"action_mode": "continuous", "obs_mode": "dict", "time_mode": "loop",
                                      "max_episode_steps": 7}])
def test_each_lane_equals_the_single_env(kw):
    n, T = 3, 16
    kw = dict(kw)
    mes = kw.pop("max_episode_steps", None)
    venv = gym.make_vec("InspatioWorld-v0", num_envs=n, world=WORLD, **kw,
                        **({"max_episode_steps": mes} if mes else {}))
    rng = np.random.default_rng(0)
    if kw.get("action_mode") == "continuous":
        actions = rng.uniform(-1, 1, (T, n, 6)).astype(np.float32)
    else:
        actions = rng.integers(0, 9, (T, n))
    obs, _ = venv.reset(seed=10)
    vec = [(obs, np.zeros(n), np.zeros(n, bool), np.zeros(n, bool))]
    for a in actions:
        o, r, te, tr, _ = venv.step(a)
        vec.append((o, r, te, tr))
    ended = 0
    for lane in range(n):
        single = _single_run(10 + lane, [a[lane] for a in actions], **kw,
                             **({"max_episode_steps": mes} if mes else {}))
        for t, (s, v) in enumerate(zip(single, vec)):
            vo = {k: x[lane] for k, x in v[0].items()} if isinstance(v[0], dict) else v[0][lane]
            if isinstance(s[0], dict):
                for k in s[0]:
                    np.testing.assert_array_equal(s[0][k], vo[k], err_msg=f"lane {lane} step {t} key {k}")
            else:
                np.testing.assert_array_equal(s[0], vo, err_msg=f"lane {lane} step {t}")
            assert (s[1], s[2], s[3]) == (v[1][lane], v[2][lane], v[3][lane]), (lane, t)
            ended += int(s[3])
    assert ended > 0  # the episodes did end and autoreset inside the window (play mode: 11 steps)


def test_same_step_autoreset_reports_the_final_observation():
    venv = WorldVectorEnv(num_envs=2, world=WORLD, autoreset_mode="same_step", max_episode_steps=3)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, info = venv.reset(seed=0)
    for _ in range(2):
        venv.step(np.array([1, 1]))
    o, r, te, tr, info = venv.step(np.array([1, 1]))
    assert tr.all() and info["_final_obs"].all()
    assert info["final_obs"][0].shape == (64, 64, 3) and info["final_info"][0]["frame"] == 3
    assert info["frame"][0] == 0  # the returned observation is already the reset one
    np.testing.assert_array_equal(o, obs)  # deterministic reset to the start pose and frame


def test_lanes_on_different_worlds_and_partial_reset():
    venv = WorldVectorEnv(num_envs=3, world=["procedural:seed=0,num_frames=8", "procedural:seed=5,num_frames=8"])
    assert venv.worlds[0] is venv.worlds[2] and venv.worlds[0] is not venv.worlds[1]
    obs, _ = venv.reset(seed=1)
    assert not np.array_equal(obs[0], obs[1]) and np.array_equal(obs[0], obs[2])
    venv.step(np.array([1, 1, 1]))
    o2, _ = venv.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(o2[1], obs[1])
    assert not np.array_equal(o2[0], obs[0])


def test_vector_env_errors():
    with pytest.raises(ValueError, match="num_envs"):
        WorldVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="autoreset_mode"):
        WorldVectorEnv(num_envs=2, autoreset_mode="disabled")
    venv = WorldVectorEnv(num_envs=2, world=WORLD)
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step(np.array([0, 0]))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="expected 2 actions"):
        venv.step(np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="out of range"):
        venv.step(np.array([0, 12]))
    with pytest.raises(ValueError, match="seed list"):
        venv.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="unknown env option"):
        WorldVectorEnv(num_envs=2, warp_speed=9)


def test_star_backend_lanes_match_single_envs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(world="procedural:num_frames=6", backend="star", width=32, height=32,
                  backend_options={"config": "tiny"})
        venv = gym.make_vec("InspatioWorld-v0", num_envs=2, **kw)
        obs, _ = venv.reset(seed=3)
        acts = np.array([[1, 5], [6, 1], [0, 2]])
        outs = [obs] + [venv.step(a)[0] for a in acts]
        for lane in range(2):
            env = gym.make("InspatioWorld-v0", **kw)
            o, _ = env.reset(seed=3 + lane)
            single = [o] + [env.step(int(a[lane]))[0] for a in acts]
            for t, (s, v) in enumerate(zip(single, outs)):
                # batched matmuls may round differently from batch-of-one ones: allow 1 grey level
                assert np.abs(s.astype(int) - v[lane].astype(int)).max() <= 1, (lane, t)


def test_partial_reset_keeps_other_lanes_views_and_masks_infos():
    venv = WorldVectorEnv(num_envs=3, world=WORLD, render_mode="rgb_array")
    venv.reset(seed=0)
    obs, *_ = venv.step(np.array([1, 1, 1]))
    before = venv.render()
    o2, info = venv.reset(options={"reset_mask": np.array([False, True, False])})
    assert info["_coverage"].tolist() == [False, True, False] and info["_pose"].tolist() == [False, True, False]
    img = venv.render()
    np.testing.assert_array_equal(img[0], before[0])  # untouched lanes keep their view
    np.testing.assert_array_equal(img[1], o2[1])
    assert img[2].mean() > 1


def _oracle(obs_goal: np.ndarray) -> int:
    heading = np.arctan2(obs_goal[2], obs_goal[1])
    return 6 if heading > np.radians(4) else 5 if heading < -np.radians(4) else 1


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_pointnav_lanes_equal_single_envs_in_every_field(mode):
    """Staggered ends (oracle lanes succeed, a random lane hits the time limit), rewards,
    terminations, truncations and infos all equal the single envs'."""
    import inspatio_gym  # noqa: F401

    n, T, limit = 3, 40, 25
    venv = gym.make_vec("InspatioPointNav-v0", num_envs=n, world=WORLD, max_episode_steps=limit, autoreset_mode=mode)
    obs, _ = venv.reset(seed=20)
    singles = [gym.make("InspatioPointNav-v0", world=WORLD, max_episode_steps=limit) for _ in range(n)]
    s_obs = [e.reset(seed=20 + i)[0] for i, e in enumerate(singles)]
    rng = np.random.default_rng(1)
    pending = [False] * n
    ends = 0
    for t in range(T):
        acts = np.array([_oracle(obs["goal"][i]) if i < 2 else int(rng.integers(9)) for i in range(n)])
        obs, rew, term, trunc, info = venv.step(acts)
        for i, env in enumerate(singles):
            if mode == "next_step" and pending[i]:
                o, _ = env.reset()
                r, te, tr = 0.0, False, False
            else:
                o, r, te, tr, inf = env.step(int(acts[i]))
                if (te or tr) and mode == "same_step":
                    np.testing.assert_array_equal(info["final_obs"][i]["goal"], o["goal"])
                    assert info["final_info"][i]["success"] == inf["success"]
                    o, _ = env.reset()
            assert (rew[i], term[i], trunc[i]) == (pytest.approx(r), te, tr), (mode, t, i)
            np.testing.assert_array_equal(obs["goal"][i], o["goal"])
            np.testing.assert_array_equal(obs["rgb"][i], o["rgb"])
            pending[i] = te or tr
            ends += int(te or tr)
    assert ends >= 3
