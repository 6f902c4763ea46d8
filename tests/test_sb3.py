"""The Stable-Baselines3 VecEnv adapter over WorldVectorEnv: SB3's contract, autoreset, PPO."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

from inspatio_gym.envs.sb3 import SB3VecEnv, make_sb3_vec_env  # noqa: E402
from inspatio_gym.envs.vector_env import WorldVectorEnv  # noqa: E402

WORLD = "procedural:num_frames=8"  # play mode: an episode from frame 0 ends after 7 steps
SMALL = {"world": WORLD, "width": 32, "height": 32}
INFO_TYPES = {"pose": np.ndarray, "frame": int, "collided": bool, "leashed": bool, "coverage": float}


def _actions(venv: SB3VecEnv, rng: np.random.Generator) -> np.ndarray:
    """Actions as SB3's policies hand them over: int [N] for Discrete, float32 [N, d] for Box."""
    space = venv.action_space
    if hasattr(space, "n"):
        return rng.integers(0, space.n, venv.num_envs)
    return rng.uniform(-1, 1, (venv.num_envs, *space.shape)).astype(np.float32)


def _lane(obs, i):
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def _assert_obs_equal(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    else:
        np.testing.assert_array_equal(a, b)


def _check_info(info: dict) -> None:
    for key, typ in INFO_TYPES.items():
        assert type(info[key]) is typ, (key, type(info[key]))
    assert info["pose"].shape == (4, 4)


# -- the VecEnv contract ------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"obs_mode": "dict", "action_mode": "continuous"}])
def test_contract_shapes_dtypes_and_infos(kw):
    n = 3
    venv = SB3VecEnv(num_envs=n, **SMALL, **kw)
    assert isinstance(venv, VecEnv) and venv.num_envs == n
    assert venv.observation_space == venv.venv.single_observation_space
    assert venv.action_space == venv.venv.single_action_space
    obs = venv.reset()
    assert not isinstance(obs, tuple)  # SB3's reset returns the observation only
    for i in range(n):
        assert venv.observation_space.contains(_lane(obs, i))
    assert len(venv.reset_infos) == n
    for info in venv.reset_infos:
        _check_info(info)
        assert info["frame"] == 0
    rng = np.random.default_rng(0)
    for _ in range(2):
        obs, rewards, dones, infos = venv.step(_actions(venv, rng))
        assert rewards.dtype == np.float32 and rewards.shape == (n,)
        assert dones.dtype == np.bool_ and dones.shape == (n,) and not dones.any()
        assert isinstance(infos, list) and len(infos) == n
        for i, info in enumerate(infos):
            assert venv.observation_space.contains(_lane(obs, i))
            _check_info(info)
            assert info["TimeLimit.truncated"] is False and "terminal_observation" not in info
    assert [info["frame"] for info in infos] == [2] * n
    venv.close()


def test_seeds_apply_at_the_next_reset_only(monkeypatch):
    venv = SB3VecEnv(num_envs=3, **SMALL)
    seen = []
    real_reset = venv.venv.reset

    def spy(*, seed=None, options=None):
        seen.append(seed)
        return real_reset(seed=seed, options=options)

    monkeypatch.setattr(venv.venv, "reset", spy)
    assert list(venv.seed(7)) == [7, 8, 9]
    venv.reset()
    assert seen[-1] == [7, 8, 9]
    assert venv.venv.np_random_seed == 7  # the vector env really was seeded
    venv.reset()
    assert seen[-1] is None  # used once, then cleared


def test_options_apply_at_the_next_reset_only():
    n = 2
    venv = SB3VecEnv(num_envs=n, **SMALL)
    venv.reset()
    venv.set_options({"start_frame": 2})
    venv.reset()
    assert [info["frame"] for info in venv.reset_infos] == [2, 2]
    venv.reset()
    assert [info["frame"] for info in venv.reset_infos] == [0, 0]
    venv.set_options([{"start_frame": 3}] * n)  # equal per-lane dicts are one dict
    venv.reset()
    assert [info["frame"] for info in venv.reset_infos] == [3, 3]
    venv.set_options([{"start_frame": np.array([1, 4])}] * n)  # per-lane values inside one dict
    venv.reset()
    assert [info["frame"] for info in venv.reset_infos] == [1, 4]


def test_unequal_or_unsupported_options_are_rejected():
    venv = SB3VecEnv(num_envs=2, **SMALL)
    with pytest.raises(ValueError, match="one options dict"):
        venv.set_options([{"start_frame": 1}, {"start_frame": 2}])
    with pytest.raises(ValueError, match="2 lanes"):
        venv.set_options([{"start_frame": 1}])
    venv._options = [{"start_frame": 1}, {}]  # set behind set_options' back: reset still refuses
    with pytest.raises(ValueError, match="one options dict"):
        venv.reset()
    venv.set_options({"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset()


# -- episode ends -------------------------------------------------------------------------------
@pytest.mark.parametrize("obs_mode", ["rgb", "dict"])
def test_time_limit_gives_terminal_observation_and_truncation(obs_mode):
    n = 2
    kw = {**SMALL, "obs_mode": obs_mode, "time_mode": "loop"}
    venv = SB3VecEnv(num_envs=n, max_episode_steps=3, **kw)
    twin = WorldVectorEnv(n, autoreset_mode="next_step", **kw)  # no limit: its obs at step 3 is the final one
    first = venv.reset()
    twin.reset()
    actions = [np.array([1, 5]), np.array([3, 1]), np.array([5, 2])]
    for t, a in enumerate(actions, start=1):
        obs, _, dones, infos = venv.step(a)
        ref, *_ = twin.step(a)
        if t < 3:
            assert not dones.any()
            continue
        assert dones.all()
        for i in range(n):
            assert infos[i]["TimeLimit.truncated"] is True
            assert infos[i]["frame"] == 3 and venv.reset_infos[i]["frame"] == 0
            _assert_obs_equal(infos[i]["terminal_observation"], _lane(ref, i))
            _assert_obs_equal(_lane(obs, i), _lane(first, i))  # already the reset observation
            with pytest.raises(AssertionError):
                _assert_obs_equal(infos[i]["terminal_observation"], _lane(first, i))
    obs, _, dones, infos = venv.step(np.array([0, 0]))
    assert not dones.any() and [info["frame"] for info in infos] == [1, 1]


def test_termination_is_not_reported_as_a_time_limit(monkeypatch):
    # the free-roaming world never terminates; a task that does must not look time-limited to SB3,
    # which would then bootstrap from the terminal observation
    venv = SB3VecEnv(num_envs=2, max_episode_steps=2, **SMALL)
    real_step = venv.venv.step

    def terminating_step(actions):
        obs, rew, terminated, truncated, info = real_step(actions)
        terminated = terminated.copy()
        terminated[0] = truncated[0]  # lane 0 ends by termination as well as by the time limit
        return obs, rew, terminated, truncated, info

    monkeypatch.setattr(venv.venv, "step", terminating_step)
    venv.reset()
    venv.step(np.array([1, 1]))
    _, _, dones, infos = venv.step(np.array([1, 1]))
    assert dones.tolist() == [True, True]
    assert infos[0]["TimeLimit.truncated"] is False and "terminal_observation" in infos[0]
    assert infos[1]["TimeLimit.truncated"] is True


@pytest.mark.parametrize("obs_mode", ["rgb", "dict"])
def test_end_of_video_truncates_one_lane(obs_mode):
    kw = {**SMALL, "obs_mode": obs_mode, "time_mode": "play"}
    venv = SB3VecEnv(num_envs=2, **kw)
    twin = WorldVectorEnv(2, autoreset_mode="next_step", **kw)
    venv.set_options({"start_frame": [0, 5]})  # lane 1 reaches the last of 8 frames after 2 steps
    first = venv.reset()
    twin.reset(options={"start_frame": [0, 5]})
    a = np.array([1, 1])
    venv.step(a)
    twin.step(a)
    obs, _, dones, infos = venv.step(a)
    ref, *_ = twin.step(a)
    assert dones.tolist() == [False, True]
    assert infos[0]["TimeLimit.truncated"] is False and "terminal_observation" not in infos[0]
    assert infos[1]["TimeLimit.truncated"] is True and infos[1]["frame"] == 7
    _assert_obs_equal(infos[1]["terminal_observation"], _lane(ref, 1))
    _assert_obs_equal(_lane(obs, 0), _lane(ref, 0))  # the other lane walks on
    assert venv.reset_infos[1]["frame"] == 0
    _assert_obs_equal(_lane(obs, 1), _lane(first, 0))  # reset view at frame 0, identity pose
    for _ in range(5):  # lane 0 reaches frame 7 after 7 steps in all
        obs, _, dones, infos = venv.step(a)
    assert dones.tolist() == [True, False] and infos[0]["TimeLimit.truncated"] is True


def test_same_seed_and_actions_give_identical_rollouts():
    def run():
        venv = SB3VecEnv(num_envs=2, max_episode_steps=4, action_mode="continuous", obs_mode="dict", **SMALL)
        venv.seed(3)
        out = [venv.reset()]
        rng = np.random.default_rng(1)
        for _ in range(6):
            obs, _, dones, infos = venv.step(_actions(venv, rng))
            out.append((obs, dones, [info["pose"] for info in infos]))
        return out

    a, b = run(), run()
    _assert_obs_equal(a[0], b[0])
    assert a[4][1].all()  # the rollout crossed an episode end
    for (oa, da, pa), (ob, db, pb) in zip(a[1:], b[1:]):
        _assert_obs_equal(oa, ob)
        np.testing.assert_array_equal(da, db)
        np.testing.assert_array_equal(np.stack(pa), np.stack(pb))
    with pytest.raises(AssertionError):  # and the rollout does move
        _assert_obs_equal(a[3][0], a[1][0])


# -- the rest of the VecEnv API ------------------------------------------------------------------
def test_attributes_methods_and_images():
    n = 3
    venv = SB3VecEnv(num_envs=n, render_mode="rgb_array", **SMALL)
    assert venv.render_mode == "rgb_array"
    assert venv.get_attr("render_mode") == ["rgb_array"] * n
    assert venv.get_attr("num_envs", indices=[0, 2]) == [n, n]
    assert venv.has_attr("options") and not venv.has_attr("no_such_attribute")
    with pytest.raises(IndexError):
        venv.get_attr("num_envs", indices=[n])
    venv.set_attr("max_episode_steps", 2)
    assert venv.venv.max_episode_steps == 2
    with pytest.raises(ValueError, match="every lane"):
        venv.set_attr("max_episode_steps", 5, indices=[0])
    assert venv.venv.max_episode_steps == 2
    assert venv.env_is_wrapped(object, indices=[1]) == [False]
    assert venv.env_is_wrapped(object) == [False] * n
    obs = venv.reset()
    images = venv.get_images()
    assert len(images) == n
    for i in range(n):
        np.testing.assert_array_equal(images[i], obs[i])
    rendered = venv.env_method("render", indices=[0, 1])
    assert len(rendered) == 2 and rendered[0].shape == (n, 32, 32, 3)
    assert venv.render().shape[-1] == 3  # SB3 tiles get_images()
    _, _, dones, _ = venv.step(np.array([1, 1, 1]))
    _, _, dones, _ = venv.step(np.array([1, 1, 1]))
    assert dones.all()  # the max_episode_steps set through set_attr is in force
    venv.close()


def test_get_images_without_rgb_array_warns():
    venv = SB3VecEnv(num_envs=2, **SMALL)
    venv.reset()
    assert venv.get_attr("render_mode") == [None, None]
    with pytest.warns(UserWarning, match="rgb_array"):
        assert venv.get_images() == [None, None]


def test_step_wait_needs_step_async():
    venv = SB3VecEnv(num_envs=2, **SMALL)
    venv.reset()
    with pytest.raises(RuntimeError, match="step_async"):
        venv.step_wait()
    venv.step_async(np.array([[1], [2]]))  # a trailing axis on discrete actions is dropped
    _, _, _, infos = venv.step_wait()
    assert infos[0]["frame"] == 1


def test_wraps_an_existing_same_step_env_only():
    same = WorldVectorEnv(2, autoreset_mode="same_step", **SMALL)
    venv = SB3VecEnv(same)
    assert venv.venv is same and venv.reset().shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="same_step"):
        SB3VecEnv(WorldVectorEnv(2, **SMALL))  # Gymnasium's default, next_step
    with pytest.raises(ValueError, match="same_step"):
        SB3VecEnv(num_envs=2, autoreset_mode="next_step", **SMALL)
    with pytest.raises(ValueError, match="not both"):
        SB3VecEnv(same, num_envs=2)
    with pytest.raises(TypeError):
        SB3VecEnv(object())


def test_make_sb3_vec_env_uses_the_registered_spec():
    venv = make_sb3_vec_env(num_envs=2, **SMALL)
    assert isinstance(venv, SB3VecEnv) and venv.num_envs == 2
    assert venv.venv.max_episode_steps == 500
    assert make_sb3_vec_env(num_envs=1, max_episode_steps=3, **SMALL).venv.max_episode_steps == 3
    with pytest.raises(ValueError, match="same_step"):
        make_sb3_vec_env(num_envs=2, autoreset_mode="next_step", **SMALL)


def test_package_does_not_import_stable_baselines3():
    code = ("import sys, inspatio_gym, inspatio_gym.envs.vector_env, inspatio_gym.envs.world_env;"
            "assert 'stable_baselines3' not in sys.modules, 'stable_baselines3 imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


# -- learning -------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy, obs_mode", [("CnnPolicy", "rgb"), ("MultiInputPolicy", "dict")])
def test_ppo_updates_the_policy(policy, obs_mode):
    # 64x64: SB3's NatureCNN needs images of at least 36x36; episodes of 3 steps make PPO
    # bootstrap from terminal_observation during the rollouts
    venv = SB3VecEnv(num_envs=2, world=WORLD, obs_mode=obs_mode, max_episode_steps=3)
    model = PPO(policy, venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32
    after = list(model.policy.parameters())
    assert any(not torch.equal(b, a.detach()) for b, a in zip(before, after))
