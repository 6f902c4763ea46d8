"""Train PPO (Ray RLlib, new API stack) on PointNav with env runners in their own processes.

    pip install -e ".[rllib]"
    python examples/rllib_ppo_pointnav.py                          # a local Ray cluster on this machine
    python examples/rllib_ppo_pointnav.py --iterations 60 --runners 2 --envs-per-runner 8

On several machines: start the head with `ray start --head --port=6379`, join each worker
machine with `ray start --address=<head-ip>:6379` (each needs this package installed and
the same video, at the same path, if you use one), then run this script on the head with
`--address auto` and as many `--runners` as the cluster has cores for.

Each env runner holds one natively batched WorldVectorEnv (`gym_env_vectorize_mode=
"vector_entry_point"`: one batched backend call per step for all its lanes) and builds the
world once. The policy sees the goal vector (distance, heading) only: an MLP, which is what
RLlib's default model takes; give it the image with your own RLModule. After training the
greedy policy and a random one are scored on the same held-out episodes (results.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def goal_only(env_config):
    """The RLlib creator: inspatio_gym's, with the observation reduced to the goal vector."""
    import gymnasium as gym
    from gymnasium.wrappers import FilterObservation, FlattenObservation
    from gymnasium.wrappers.vector import FilterObservation as VecFilter, FlattenObservation as VecFlatten

    from inspatio_gym.integrations import rllib

    env = rllib.make_env(env_config)
    if isinstance(env, gym.vector.VectorEnv):
        return VecFlatten(VecFilter(env, ["goal"]))
    return FlattenObservation(FilterObservation(env, ["goal"]))


def evaluate(module, env_config: dict, episodes: int, seed: int) -> tuple[float, float]:
    """(success rate, mean return) of the greedy policy (None: uniformly random)."""
    import torch

    env = goal_only(env_config)
    rng = np.random.default_rng(seed)
    wins, total = 0, 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done, info = False, {}
        while not done:
            if module is None:
                a = int(rng.integers(env.action_space.n))
            else:
                with torch.no_grad():
                    out = module.forward_inference({"obs": torch.from_numpy(obs[None]).float()})
                a = int(out["action_dist_inputs"][0].argmax())
            obs, r, term, trunc, info = env.step(a)
            total += float(r)
            done = term or trunc
        wins += int(info["success"])
    return wins / episodes, total / episodes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--runners", type=int, default=1, help="env runner processes")
    p.add_argument("--envs-per-runner", type=int, default=8, help="lanes of each runner's vector env")
    p.add_argument("--max-steps", type=int, default=60, help="episode limit")
    p.add_argument("--world", default="procedural:num_frames=48")
    p.add_argument("--eval-episodes", type=int, default=30)
    p.add_argument("--address", default=None, help="an existing Ray cluster ('auto'); default: start one here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs/rllib_ppo_pointnav")
    args = p.parse_args()

    import ray
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    torch.set_num_threads(1)  # the driver's learner shares the cores with the runners
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    temp = None
    if args.address is None:
        temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
        ray.init(include_dashboard=False, _temp_dir=temp, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    else:
        ray.init(address=args.address, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    env_config = {"id": "InspatioPointNav-v0", "world": args.world, "max_episode_steps": args.max_steps}
    try:
        register_env("inspatio_pointnav_goal", goal_only)
        config = (PPOConfig()
                  .environment("inspatio_pointnav_goal", env_config=env_config)
                  .env_runners(num_env_runners=args.runners, num_envs_per_env_runner=args.envs_per_runner,
                               gym_env_vectorize_mode="vector_entry_point", rollout_fragment_length=64,
                               num_cpus_per_env_runner=1)
                  .training(train_batch_size_per_learner=1024, minibatch_size=256, num_epochs=6, lr=3e-4,
                            gamma=0.98, entropy_coeff=0.01)
                  .debugging(seed=args.seed))
        algo = config.build_algo()
        t0 = time.time()
        curve = []
        try:
            for i in range(args.iterations):
                r = algo.train()
                er = r["env_runners"]
                ret = er.get("episode_return_mean", float("nan"))
                curve.append({"iteration": i + 1, "env_steps": int(er["num_env_steps_sampled_lifetime"]),
                              "episode_return_mean": ret})
                print(f"iteration {i + 1}/{args.iterations}: {curve[-1]['env_steps']} env steps, "
                      f"return {ret:.3f}, {time.time() - t0:.0f} s", flush=True)
            train_s = time.time() - t0
            module = algo.get_module()
        finally:
            algo.stop()
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    held = 10_000 + args.seed * 1000  # evaluation seeds never used in training resets
    ppo_sr, ppo_ret = evaluate(module, env_config, args.eval_episodes, held)
    rnd_sr, rnd_ret = evaluate(None, env_config, args.eval_episodes, held)
    results = {"iterations": args.iterations, "env_steps": curve[-1]["env_steps"] if curve else 0,
               "train_seconds": round(train_s, 1), "runners": args.runners, "envs_per_runner": args.envs_per_runner,
               "ppo_success": ppo_sr, "random_success": rnd_sr, "ppo_return": ppo_ret, "random_return": rnd_ret,
               "eval_episodes": args.eval_episodes, "max_steps": args.max_steps, "curve": curve}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "curve"}, indent=2))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
