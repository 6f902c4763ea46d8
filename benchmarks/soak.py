"""Soak: resident memory over long runs of every env kind, and over create/close cycles.

Prints the RSS every 500 steps and each run's growth from its first reading after warm-up to
its last (a leak shows as steady growth; allocator noise as a flat line with steps).

    python benchmarks/soak.py                       # warp 10k, star 2k, vector 16 x 2k, 200 cycles
    python benchmarks/soak.py --scale 0.1           # a quick look
    python benchmarks/soak.py --json docs/results/soak.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path
from typing import Callable

WORLD = "procedural:num_frames=48"
EVERY = 500


def rss_mib() -> float:
    """This process's resident set size (Linux /proc; ru_maxrss elsewhere is a peak, not a level)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(name: str, total: int, step: Callable[[int], None], every: int = EVERY) -> dict:
    from tqdm import tqdm

    for k in range(min(200, total)):  # warm-up: kernels compiled, caches filled
        step(k)
    gc.collect()
    readings = [(0, rss_mib())]
    t0 = time.perf_counter()
    for k in tqdm(range(total), desc=name, unit="step", leave=False):
        step(k)
        if (k + 1) % every == 0:
            readings.append((k + 1, rss_mib()))
    seconds = time.perf_counter() - t0
    first, last = readings[0][1], readings[-1][1]
    out = {"steps": total, "seconds": round(seconds, 1), "rss_first_mib": round(first, 1),
           "rss_last_mib": round(last, 1), "growth_pct": round(100 * (last - first) / first, 2),
           "readings": [(k, round(r, 1)) for k, r in readings]}
    print(f"{name:>22}: {total} steps in {seconds:.0f} s, RSS {first:.1f} -> {last:.1f} MiB "
          f"({out['growth_pct']:+.2f}%)")
    return out


def soak_env(backend: str, steps: int) -> dict:
    import gymnasium as gym

    import inspatio_gym  # noqa: F401

    env = gym.make("InspatioWorld-v0", world=WORLD, backend=backend, max_episode_steps=300)
    env.reset(seed=0)

    def step(k: int) -> None:
        _, _, term, trunc, _ = env.step(k % 9)
        if term or trunc:
            env.reset()

    return _run(f"{backend} WorldEnv", steps, step)


def soak_vector(lanes: int, steps: int) -> dict:
    import gymnasium as gym
    import numpy as np

    import inspatio_gym  # noqa: F401

    venv = gym.make_vec("InspatioWorld-v0", num_envs=lanes, world=WORLD, max_episode_steps=300)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    return _run(f"vector x{lanes}", steps, lambda k: venv.step(rng.integers(0, 9, lanes)))


def soak_cycles(cycles: int) -> dict:
    import gymnasium as gym

    import inspatio_gym  # noqa: F401

    def cycle(k: int) -> None:
        env = gym.make("InspatioWorld-v0", world=WORLD)
        env.reset(seed=k)
        env.step(1)
        env.close()

    return _run("create/close cycles", cycles, cycle, every=max(1, cycles // 10))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every run's length")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    n = lambda x: max(EVERY, int(x * args.scale))  # noqa: E731
    results = {
        "warp": soak_env("warp", n(10_000)),
        "star": soak_env("star", n(2_000)),
        "vector16": soak_vector(16, n(2_000)),
        "cycles": soak_cycles(max(20, int(200 * args.scale))),
    }
    worst = max(r["growth_pct"] for r in results.values())
    print(f"largest RSS growth: {worst:+.2f}%")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
