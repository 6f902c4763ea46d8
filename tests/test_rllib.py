"""Ray RLlib (new API stack): the env creators, and PPO with an env runner in its own process."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ray.rllib")
torch = pytest.importorskip("torch")

from inspatio_gym.envs.vector_env import WorldVectorEnv  # noqa: E402
from inspatio_gym.envs.world_env import WorldEnv  # noqa: E402
from inspatio_gym.integrations import rllib  # noqa: E402

WORLD = "procedural:num_frames=12"


@pytest.fixture(autouse=True)
def _keep_threads():
    """The creators set one torch thread and one lane thread (what a runner process wants); put them back."""
    n, lanes = torch.get_num_threads(), os.environ.pop("INSPATIO_GYM_THREADS", None)
    yield
    torch.set_num_threads(n)
    os.environ.pop("INSPATIO_GYM_THREADS", None)
    if lanes is not None:
        os.environ["INSPATIO_GYM_THREADS"] = lanes


def test_creator_gives_the_batched_env_when_rllib_vectorizes_through_the_entry_point():
    venv = rllib.make_env({"id": "InspatioPointNav-v0", "world": WORLD, "num_envs": 3, "max_episode_steps": 9})
    assert isinstance(venv.unwrapped, WorldVectorEnv) and venv.num_envs == 3
    assert venv.unwrapped.max_episode_steps == 9 and venv.unwrapped.options.task == "pointnav"
    obs, _ = venv.reset(seed=0)
    assert obs["rgb"].shape == (3, 64, 64, 3) and obs["goal"].shape == (3, 3)
    env = rllib.make_env({"world": WORLD})
    assert isinstance(env.unwrapped, WorldEnv)
    # worlds are built once per process: every env the runner makes shares the one world object
    assert env.unwrapped.options.load_worlds(1)[0] is venv.unwrapped.worlds[0]
    assert torch.get_num_threads() == 1  # a runner process: one thread unless asked
    assert os.environ["INSPATIO_GYM_THREADS"] == "1"  # and one lane thread for the warp


def test_creator_keeps_the_threads_the_config_asks_for():
    torch.set_num_threads(2)
    rllib.make_env({"world": WORLD, "backend": "star", "backend_options": {"threads": 2}})
    assert torch.get_num_threads() == 2 and os.environ["INSPATIO_GYM_THREADS"] == "2"


@pytest.mark.parametrize("cfg, words", [
    ({"id": "CartPole-v1"}, "inspatio_gym env id"),
    ({"id": "InspatioNowhere-v0"}, "unknown env id 'InspatioNowhere-v0'"),
    ({"num_envs": 0}, "num_envs must be a positive integer, got 0"),
    ("world=procedural", "env_config must be a dict"),
])
def test_creator_names_bad_env_config_values(cfg, words):
    with pytest.raises((ValueError, TypeError), match=words):
        rllib.make_env(cfg)


def test_multi_agent_creator_wraps_the_pettingzoo_env():
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    env = rllib.make_multi_agent_env({"world": WORLD, "num_agents": 2, "max_cycles": 5})
    assert isinstance(env, MultiAgentEnv) and sorted(env.agents) == ["camera_0", "camera_1"]
    obs, _ = env.reset(seed=0)
    obs, rew, term, trunc, _ = env.step({a: 0 for a in env.agents})
    assert set(rew) == {"camera_0", "camera_1"} and "__all__" in term and "__all__" in trunc
    with pytest.raises(ValueError, match="num_envs=1"):
        rllib.make_multi_agent_env({"world": WORLD, "num_envs": 4})


def test_register_returns_the_name_ray_knows():
    from ray.tune.registry import ENV_CREATOR, _global_registry

    name = rllib.register()
    assert name == rllib.ENV_NAME and _global_registry.contains(ENV_CREATOR, name)
    assert rllib.register_multi_agent("ma_test") == "ma_test" and _global_registry.contains(ENV_CREATOR, "ma_test")


def _goal_only(env_config):
    """PointNav from the goal vector (an MLP policy); the runner imports this test module."""
    env = rllib.make_env(env_config)
    from gymnasium.wrappers.vector import FilterObservation, FlattenObservation

    return FlattenObservation(FilterObservation(env, ["goal"]))


def test_ppo_trains_two_iterations_with_an_env_runner_in_its_own_process():
    import shutil
    import tempfile

    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's sockets need a short path
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        register_env("inspatio_pointnav_goal", _goal_only)
        config = (PPOConfig()
                  .environment("inspatio_pointnav_goal",
                               env_config={"id": "InspatioPointNav-v0", "world": WORLD, "max_episode_steps": 12})
                  .env_runners(num_env_runners=1, num_envs_per_env_runner=4, rollout_fragment_length=16,
                               gym_env_vectorize_mode="vector_entry_point")
                  .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
                  .debugging(seed=0))
        algo = config.build_algo()
        try:
            kinds = algo.env_runner_group.foreach_env_runner(lambda r: type(r.env.unwrapped).__name__,
                                                             local_env_runner=False)
            assert kinds == ["WorldVectorEnv"]  # one batched env of 4 lanes in the runner process
            steps = []
            for _ in range(2):
                result = algo.train()
                steps.append(result["env_runners"]["num_env_steps_sampled_lifetime"])
            assert steps[0] >= 64 and steps[1] >= steps[0] + 64
            loss = result["learners"]["default_policy"]["total_loss"]
            assert np.isfinite(loss)
        finally:
            algo.stop()
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
