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


def steps_per_second(num_envs: int, steps: int, backend: str, repeats: int = 3) -> float:
    """Median over `repeats` timed runs of `steps` steps, after 30 warm-up steps (this shared
    2-vCPU machine varies by up to 2x between runs of a few hundred milliseconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = WorldVectorEnv(num_envs=num_envs, backend=backend, time_mode="loop")
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 9, (steps + 30, num_envs))
    for a in acts[:30]:
        venv.step(a)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in acts[30:]:
            venv.step(a)
        rates.append(steps * num_envs / (time.perf_counter() - t0))
    return float(np.median(rates))


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
            import os

            old = os.environ.get("INSPATIO_GYM_THREADS")
            os.environ["INSPATIO_GYM_THREADS"] = "1"  # lanes on the calling thread only
            try:
                one = steps_per_second(n, max(20, args.steps // max(1, n // 4)), args.backend)
            finally:
                os.environ.pop("INSPATIO_GYM_THREADS") if old is None else os.environ.__setitem__(
                    "INSPATIO_GYM_THREADS", old)
            print(f"  lane threads: {sps:.0f} steps/s split across threads vs {one:.0f} on one thread "
                  f"({sps / one:.2f}x)")


if __name__ == "__main__":
    main()
