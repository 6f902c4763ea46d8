"""Several camera agents explore one world together: PettingZoo + SuperSuit + PPO.

    python examples/multi_agent_explore.py                    # a quick run (< 2 min)
    python examples/multi_agent_explore.py --timesteps 50000  # a real run

The agents share one world, one reference cache and one batched step; each receives the
team's newly observed fraction of the world. SuperSuit turns the ParallelEnv into an SB3
VecEnv (one lane per agent, parameters shared). Writes explored-fraction statistics of the
trained team against a random team (results.json) and a side-by-side rollout video.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np


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
    p.add_argument("--timesteps", type=int, default=3000)
    p.add_argument("--episode", type=int, default=60, help="steps per episode")
    p.add_argument("--world", default="procedural:num_frames=48")
    p.add_argument("--out", default="outputs/multi_agent_explore")
    args = p.parse_args()

    import supersuit as ss
    import torch
    from stable_baselines3 import PPO

    import inspatio_gym
    from inspatio_gym.io.media import write_mp4

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def make(render: bool = False):
        return inspatio_gym.parallel_env(num_agents=args.agents, world=args.world, max_cycles=args.episode,
                                         render_mode="rgb_array" if render else None)

    vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(make()), 1, num_cpus=0,
                                base_class="stable_baselines3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)  # (SuperSuit's vec env has no seed(): PPO(seed=...) would fail)
        model = PPO("CnnPolicy", vec, n_steps=64, batch_size=64, n_epochs=4, ent_coef=0.01, verbose=0)
        model.learn(total_timesteps=args.timesteps, progress_bar=False)
    env = make(render=True)
    trained = [team_rollout(env, model, args.episode, 1000 + s)[0] for s in range(5)]
    random = [team_rollout(env, None, args.episode, 1000 + s)[0] for s in range(5)]
    _, frames = team_rollout(env, model, args.episode, 1000)
    write_mp4(out / "team.mp4", frames, env.world.fps, upscale=2)
    res = {"agents": args.agents, "timesteps": args.timesteps, "explored_trained": float(np.mean(trained)),
           "explored_random": float(np.mean(random))}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    print(f"wrote {out / 'team.mp4'} and {out / 'results.json'}")


if __name__ == "__main__":
    main()
