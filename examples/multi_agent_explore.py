"""Several camera agents explore one world together: PettingZoo + SuperSuit + PPO.

    python examples/multi_agent_explore.py                     # the quick run (about 1 min)
    python examples/multi_agent_explore.py --timesteps 100000  # a longer one

Exploring is scored as the share of the world's reference point cloud the team has seen by
the end of an episode, on held-out seeds, the trained team beside a uniformly random one.
The reward (the newly seen share, ~0.01 a step) is scaled to unit variance for PPO.

The agents share one world, one reference cache and one batched step; each receives the
team's newly observed fraction of the world. SuperSuit turns the ParallelEnv into an SB3
VecEnv (one lane per agent, parameters shared). Writes explored-fraction statistics of the
trained team against a random team (results.json) and a side-by-side rollout video.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm


def team_rollout(env, model, steps: int, seed: int) -> tuple[float, list[np.ndarray]]:
    """Explored fraction after `steps` steps and the side-by-side frames."""
    obs, infos = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = [env.render()]
    for _ in range(steps):
        if model is None:
            acts = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        else:
            acts = {a: int(model.predict(obs[a], deterministic=True)[0]) for a in env.agents}
        obs, _, _, _, infos = env.step(acts)
        frames.append(env.render())
        if not env.agents:
            break
    return float(next(iter(infos.values()))["explored"]), frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=3)
    p.add_argument("--timesteps", type=int, default=12000)
    p.add_argument("--eval-episodes", type=int, default=50, help="held-out episodes per team")
    p.add_argument("--episode", type=int, default=60, help="steps per episode")
    p.add_argument("--world", default="procedural:num_frames=48")
    p.add_argument("--out", default="outputs/multi_agent_explore")
    args = p.parse_args()

    import supersuit as ss
    import torch
    from stable_baselines3 import PPO

    import inspatio_gym
    from inspatio_gym.io.media import contact_sheet, stack_sheets, write_mp4, write_png

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def make(render: bool = False):
        return inspatio_gym.parallel_env(num_agents=args.agents, world=args.world, max_cycles=args.episode,
                                         render_mode="rgb_array" if render else None)

    from stable_baselines3.common.vec_env import VecNormalize

    vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(make()), 1, num_cpus=0,
                                base_class="stable_baselines3")
    # the reward (the newly observed share of the world) is ~0.01 a step: scaled to unit variance
    vec = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)  # (SuperSuit's vec env has no seed(): PPO(seed=...) would fail)
        model = PPO("CnnPolicy", vec, n_steps=64, batch_size=64, n_epochs=4, gamma=0.95, ent_coef=0.01, verbose=0)
        t0 = time.time()
        model.learn(total_timesteps=args.timesteps, progress_bar=_has_rich())
        train_s = time.time() - t0
    env = make(render=True)
    seeds = [10_000 + s for s in range(args.eval_episodes)]  # never used in training resets
    trained = [team_rollout(env, model, args.episode, s)[0] for s in tqdm(seeds, desc="eval trained team")]
    random = [team_rollout(env, None, args.episode, s)[0] for s in tqdm(seeds, desc="eval random team")]
    _, frames = team_rollout(env, model, args.episode, seeds[0])
    _, random_frames = team_rollout(env, None, args.episode, seeds[0])
    write_mp4(out / "team.mp4", frames, env.world.fps, upscale=2)
    sheet = stack_sheets([contact_sheet(frames, columns=6, max_tiles=6, labels=[[f"step {k}"] for k in range(len(frames))],
                                        title="trained team (agents side by side)"),
                          contact_sheet(random_frames, columns=6, max_tiles=6,
                                        labels=[[f"step {k}"] for k in range(len(random_frames))],
                                        title="random team")])
    write_png(out / "teams.png", sheet)
    res = {"agents": args.agents, "timesteps": args.timesteps, "train_seconds": round(train_s, 1),
           "eval_episodes": args.eval_episodes, "episode_steps": args.episode,
           "explored_trained": float(np.mean(trained)), "explored_random": float(np.mean(random)),
           "explored_trained_std": float(np.std(trained)), "explored_random_std": float(np.std(random))}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(f"{args.eval_episodes} held-out episodes, explored share of the world: trained team "
          f"{res['explored_trained']:.3f} +- {res['explored_trained_std']:.3f}, random team "
          f"{res['explored_random']:.3f} +- {res['explored_random_std']:.3f}")
    print(json.dumps(res, indent=2))
    print(f"wrote {out / 'team.mp4'}, {out / 'teams.png'} and {out / 'results.json'}")


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401

        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
