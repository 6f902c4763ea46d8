"""The warp's lane threads under load, per thread policy, side by side.

A 16-lane warp vector env at 64x64 (the default world) is timed quiet, next to one busy
process, and next to a second env process stepping its own 16 lanes under the same policy
(a learner with its env workers, in small), round by round (alternating, medians), for the
default (all the CPUs this process may use, geometry.lane_threads) and one thread.

What it showed (docs/results/lane_threads.json): the lane threads do not collapse under load
as torch's OpenMP threads do (they never wait at a barrier while spinning), so the default
stays; several env processes on the same cores are a little faster at one thread each,
which is what the RLlib creator sets in its runners (INSPATIO_GYM_THREADS=1).

    python benchmarks/bench_lane_threads.py [--steps 400] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

POLICIES = {"default (all CPUs)": "", "1 thread": "1"}


def make_env():
    from inspatio_gym.envs.vector_env import WorldVectorEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        venv = WorldVectorEnv(num_envs=16, backend="warp", time_mode="loop")
    venv.reset(seed=0)
    return venv


def rate(venv, rng, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        venv.step(rng.integers(0, 9, 16))
    return steps * 16 / (time.perf_counter() - t0)


def use(policy: str) -> None:
    if POLICIES[policy]:
        os.environ["INSPATIO_GYM_THREADS"] = POLICIES[policy]
    else:
        os.environ.pop("INSPATIO_GYM_THREADS", None)


def worker(policy: str) -> None:
    """A second env process: steps until killed."""
    use(policy)
    venv, rng = make_env(), np.random.default_rng(1)
    print("ready", flush=True)
    while True:
        rate(venv, rng, 50)


def competitor(kind: str, policy: str) -> subprocess.Popen | None:
    if kind == "quiet":
        return None
    if kind == "busy process":
        proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return proc
    proc = subprocess.Popen([sys.executable, __file__, "--worker", policy], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    return proc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return

    venv, rng = make_env(), np.random.default_rng(0)
    rate(venv, rng, 50)  # warm-up (compiles)
    loads = ("quiet", "busy process", "second env process")
    res = {k: {load: [] for load in loads} for k in POLICIES}
    for r in range(args.rounds):
        for load in loads:
            for name in POLICIES:
                proc = competitor(load, name)
                try:
                    use(name)
                    rate(venv, rng, 60)  # settle after the switch
                    res[name][load].append(rate(venv, rng, args.steps))
                finally:
                    if proc:
                        proc.kill()
                        proc.wait()
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    out = {}
    print(f"{'policy':>20} " + " ".join(f"{k:>19}" for k in loads) + "   (steps/s of this process, 16 lanes)")
    for name, v in res.items():
        med = {load: statistics.median(v[load]) for load in loads}
        out[name] = {load.replace(" ", "_"): round(med[load]) for load in loads}
        print(f"{name:>20} " + " ".join(f"{med[k]:19.0f}" for k in loads))
    d, one = out["default (all CPUs)"], out["1 thread"]
    print("ratios default / 1 thread: " + ", ".join(f"{k} {d[k] / one[k]:.2f}" for k in d))
    print(f"default under a busy process / quiet: {d['busy_process'] / d['quiet']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
