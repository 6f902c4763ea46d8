"""Vector env throughput: aggregate steps/s against num_envs (warp backend by default).

Target (issue 4) at 64x64 on 2 cores: >= 5,000 steps/s aggregate with the warp backend at
16 envs. Run: python benchmarks/bench_vector.py [--backend warp|star] [--steps 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from inspatio_gym.envs.vector_env import WorldVectorEnv


def steps_per_second(num_envs: int, steps: int, backend: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = WorldVectorEnv(num_envs=num_envs, backend=backend, time_mode="loop")
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 9, (steps + 10, num_envs))
    for a in acts[:10]:
        venv.step(a)
    t0 = time.perf_counter()
    for a in acts[10:]:
        venv.step(a)
    return steps * num_envs / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="warp", choices=["warp", "star"])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"backend {args.backend}, 64x64, {torch.get_num_threads()} threads")
    base = None
    for n in (1, 4, 16, 64):
        sps = steps_per_second(n, max(20, args.steps // max(1, n // 4)), args.backend)
        base = base or sps
        print(f"num_envs {n:>3}: {sps:>8.0f} steps/s  ({sps / base:.1f}x one env)")
        if n == 16 and args.backend == "warp":
            print(f"  target >= 5,000 steps/s at 16 envs: {sps / 5000:.2f}x the target")


if __name__ == "__main__":
    main()
