"""Steps per second of the natively batched vector env against num_envs.

    python examples/vector_throughput.py                 # warp backend, 64x64
    python examples/vector_throughput.py --backend star  # the trained generator (shipped checkpoint)
"""

from __future__ import annotations

import argparse
import time
import warnings

import gymnasium as gym
import numpy as np

import inspatio_gym  # noqa: F401


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="warp", choices=["warp", "star"])
    p.add_argument("--envs", default="1,4,16")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per setting")
    args = p.parse_args()
    print(f"backend {args.backend}, 64x64")
    base = None
    for n in (int(x) for x in args.envs.split(",")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            venv = gym.make_vec("InspatioWorld-v0", num_envs=n, backend=args.backend, time_mode="loop")
        venv.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(5):
            venv.step(rng.integers(0, 9, n))
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            venv.step(rng.integers(0, 9, n))
            steps += n
        sps = steps / (time.perf_counter() - t0)
        base = base or sps
        print(f"num_envs {n:>3}: {sps:>8.0f} steps/s ({sps / base:.1f}x one env)")


if __name__ == "__main__":
    main()
