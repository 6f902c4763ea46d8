"""The coverage floor's bar (issue 12.2): seeded random walks and held actions stay where the
world is known.

For each world (the default procedural one, and any videos or 7-Scenes folders given), 300
seeded random steps per seed (the episode reset when it ends) and, per held action, the
whole clip with that action held: the least rendered coverage and the flat frames (grey
standard deviation < 4). Bar: coverage never below 0.5, no flat frame.
Run: python benchmarks/coverage_walks.py [--seeds 10] [VIDEO_OR_FOLDER ...]
"""

from __future__ import annotations

import argparse
import warnings

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import inspatio_gym  # noqa: F401  (registers the ids)
from inspatio_gym.control.actions import DISCRETE_ACTIONS

GREY = np.array([0.299, 0.587, 0.114], np.float32)
HELD = (("discrete", "turn_right"), ("discrete", "turn_left"), ("discrete", "look_up"),
        ("discrete", "backward"), ("orbit", (0.0, 0.0, -1.0)))


def _flat(obs: np.ndarray) -> bool:
    return float((obs.astype(np.float32) @ GREY).std()) < 4


def walk(kw: dict, seed: int, steps: int) -> tuple[float, int]:
    """(least coverage, flat frames) of a seeded random walk."""
    env = gym.make("InspatioWorld-v0", **kw)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    low, flat = 1.0, 0
    for _ in range(steps):
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        low, flat = min(low, float(info["coverage"])), flat + _flat(obs)
        if term or trunc:
            env.reset()
    env.close()
    return low, flat


def held(kw: dict, mode: str, action: object) -> tuple[float, int]:
    """(least coverage, flat frames) with one action held for the whole episode."""
    env = gym.make("InspatioWorld-v0", action_mode=mode, **kw)
    env.reset(seed=0)
    act = DISCRETE_ACTIONS.index(action) if mode == "discrete" else np.asarray(action, np.float32)
    low, flat = 1.0, 0
    for _ in range(300):
        obs, _, term, trunc, info = env.step(act)
        low, flat = min(low, float(info["coverage"])), flat + _flat(obs)
        if term or trunc:
            break
    env.close()
    return low, flat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*", help="videos or 7-Scenes / image folders (default: the procedural world)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    worlds = [("default", {})] + [(s, {"video": s}) for s in args.sources]
    ok = True
    for name, kw in worlds:
        walks = [walk(kw, s, args.steps) for s in tqdm(range(args.seeds), desc=f"walks {name}", leave=False)]
        lows = [w[0] for w in walks]
        flats = sum(w[1] for w in walks)
        print(f"{name}: random walks, least coverage per seed {[round(x, 3) for x in lows]}, "
              f"{sum(x < 0.5 for x in lows)}/{len(lows)} below 0.5, flat frames {flats}")
        ok &= min(lows) >= 0.5 and flats == 0
        for mode, action in HELD:
            low, flat = held(kw, mode, action)
            print(f"{name}: held {mode} {action}: least coverage {low:.3f}, flat frames {flat}")
            ok &= low >= 0.5 and flat == 0
    print("bar (coverage >= 0.5, no flat frame):", "met" if ok else "MISSED")


if __name__ == "__main__":
    main()
