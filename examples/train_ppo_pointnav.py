"""Train PPO (stable-baselines3) on PointNav in the default procedural world.

    python examples/train_ppo_pointnav.py          # quick: the policy sees the goal vector (< 2 min)
    python examples/train_ppo_pointnav.py --obs rgb+goal --timesteps 100000 --out outputs/ppo_pointnav
                                                   # the real run: pixels and goal (about 11 min)

The quick default learns from the goal vector alone (distance, cos and sin of the heading to
the goal, in the agent's frame), which an MLP learns in seconds; --obs rgb+goal adds the
camera's view (a CNN) and needs the real run's steps. Writes TensorBoard logs (if
tensorboard is installed), checkpoints every --save-every steps (resumable with --resume),
the learning curve as learning_curve.png and, after training, the success rate and return of
the trained policy and of a uniformly random one on the same held-out episodes, side by side
(results.json).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np


def evaluate(model, episodes: int, seed: int, world: str, max_steps: int, obs_key: str | None,
             desc: str) -> tuple[float, float]:
    """(success rate, mean return) of a policy (None: uniformly random) on held-out seeds."""
    import gymnasium as gym
    from tqdm import tqdm

    env = gym.make("InspatioPointNav-v0", world=world, max_episode_steps=max_steps)
    rng = np.random.default_rng(seed)
    wins, total = 0, 0.0
    for ep in tqdm(range(episodes), desc=desc, unit="episode"):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        info = {}
        while not done:
            seen = obs if obs_key is None else obs[obs_key]
            a = int(rng.integers(9)) if model is None else int(model.predict(seen, deterministic=True)[0])
            obs, r, term, trunc, info = env.step(a)
            total += r
            done = term or trunc
        wins += int(info["success"])
    return wins / episodes, total / episodes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--obs", choices=["goal", "rgb+goal"], default="goal",
                   help="what the policy sees: the goal vector (quick) or the view and the goal (real run)")
    p.add_argument("--timesteps", type=int, default=None, help="default: 20,000 (goal) or 100,000 (rgb+goal)")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=60, help="episode limit")
    p.add_argument("--world", default="procedural:num_frames=48")
    p.add_argument("--eval-episodes", type=int, default=50)
    p.add_argument("--save-every", type=int, default=10000)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs/ppo_pointnav_quick")
    args = p.parse_args()
    if args.timesteps is None:
        args.timesteps = 20_000 if args.obs == "goal" else 100_000

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.vec_env import VecMonitor

    from inspatio_gym.envs.sb3 import make_sb3_vec_env

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    venv = make_sb3_vec_env(args.num_envs, "InspatioPointNav-v0", world=args.world, max_episode_steps=args.max_steps)
    if args.obs == "goal":
        venv = goal_only(venv)
    venv = VecMonitor(venv, str(out / "monitor"))
    try:
        import tensorboard  # noqa: F401

        tb: str | None = str(out / "tb")
    except ImportError:
        tb = None
    ckpts = sorted(out.glob("ckpt/ppo_*_steps.zip"), key=lambda f: int(f.stem.split("_")[1]))
    if args.resume and ckpts:
        # SB3 stores its own (trusted, self-written) zip; never load one from elsewhere
        model = PPO.load(ckpts[-1], env=venv, tensorboard_log=tb)
        print(f"resumed from {ckpts[-1]} at {model.num_timesteps} steps")
    else:
        policy = "MlpPolicy" if args.obs == "goal" else "MultiInputPolicy"
        model = PPO(policy, venv, n_steps=128, batch_size=256, n_epochs=4, learning_rate=3e-4,
                    gamma=0.98, ent_coef=0.01, seed=args.seed, verbose=0, tensorboard_log=tb)
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.learn(total_timesteps=max(args.timesteps - model.num_timesteps, 1), progress_bar=_has_rich(),
                    reset_num_timesteps=False,
                    callback=CheckpointCallback(args.save_every // args.num_envs or 1, str(out / "ckpt"), "ppo"))
    train_s = time.time() - t0
    model.save(out / "final")
    held = 10_000 + args.seed * 1000  # evaluation seeds never used in training resets
    key = "goal" if args.obs == "goal" else None
    ppo_sr, ppo_ret = evaluate(model, args.eval_episodes, held, args.world, args.max_steps, key, "eval PPO")
    rnd_sr, rnd_ret = evaluate(None, args.eval_episodes, held, args.world, args.max_steps, key, "eval random")
    results = {"obs": args.obs, "timesteps": int(model.num_timesteps), "train_seconds": round(train_s, 1),
               "ppo_success": ppo_sr, "random_success": rnd_sr, "ppo_return": ppo_ret, "random_return": rnd_ret,
               "eval_episodes": args.eval_episodes, "num_envs": args.num_envs, "max_steps": args.max_steps}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{args.eval_episodes} held-out episodes     PPO    random")
    print(f"  success rate            {ppo_sr:6.0%}  {rnd_sr:6.0%}")
    print(f"  mean return             {ppo_ret:6.2f}  {rnd_ret:6.2f}")
    print(json.dumps(results, indent=2))
    print(f"wrote {out / 'results.json'}")
    if _plot(out):
        print(f"wrote {out / 'learning_curve.png'}")
    else:
        print("no learning-curve PNG: install matplotlib (pip install 'inspatio-gym[examples]')")


def goal_only(venv):
    """The SB3 VecEnv with the observation reduced to the goal vector (made on first use:
    stable-baselines3 is imported lazily)."""
    from gymnasium import spaces
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class _GoalOnly(VecEnvWrapper):
        def __init__(self, venv):
            space = venv.observation_space
            assert isinstance(space, spaces.Dict)
            super().__init__(venv, observation_space=space["goal"])

        def reset(self):
            return self.venv.reset()["goal"]

        def step_wait(self):
            obs, rew, done, infos = self.venv.step_wait()
            for info in infos:
                if "terminal_observation" in info:
                    info["terminal_observation"] = info["terminal_observation"]["goal"]
            return obs["goal"], rew, done, infos

    return _GoalOnly(venv)


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401

        return True
    except ImportError:
        return False


def _plot(out: Path) -> bool:
    """Episode return against timesteps from the VecMonitor log; False if it cannot plot."""
    import csv

    rows = list(csv.DictReader(l for l in (out / "monitor.monitor.csv").read_text().splitlines()
                               if not l.startswith("#")))
    if not rows:
        return False
    r = np.array([float(x["r"]) for x in rows])
    steps = np.cumsum([int(x["l"]) for x in rows])
    k = max(1, len(r) // 30)
    smooth = np.convolve(r, np.ones(k) / k, mode="valid")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(steps, r, ".", alpha=0.25, ms=3, label="episode return")
    ax.plot(steps[k - 1 :], smooth, lw=2, label=f"mean of {k}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title("PPO on InspatioPointNav-v0 (default world)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png")
    return True


if __name__ == "__main__":
    main()
