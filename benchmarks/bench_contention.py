"""STAR speed with and without a competing busy process, per thread policy, side by side.

For one star session at 64x64 (the shipped checkpoint) it measures frames/s quiet and with
one other process spinning on the cores, round by round (alternating, medians), for: the
default (backends.threads' governor), torch's default fixed count, and one thread. Bar
(issue 14): the default contended >= 0.7x its quiet speed, and its quiet speed within 10% of
the fixed default count's.

    python benchmarks/bench_contention.py [--steps 200] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def fps(env, steps: int) -> float:
    t0 = time.perf_counter()
    for k in range(steps):
        env.step(k % 9)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import gymnasium as gym
    import torch

    import inspatio_gym  # noqa: F401
    from inspatio_gym.backends.threads import ThreadGovernor

    most = torch.get_num_threads()
    env = gym.make("InspatioWorld-v0", world="procedural:num_frames=48", backend="star", time_mode="loop")
    env.reset(seed=0)
    backend = env.unwrapped.core.backend
    governor = ThreadGovernor(most)
    policies = {"default (governor)": lambda: (setattr(backend, "threads", governor), None),
                f"fixed {most} threads": lambda: (setattr(backend, "threads", None), torch.set_num_threads(most)),
                "fixed 1 thread": lambda: (setattr(backend, "threads", None), torch.set_num_threads(1))}
    fps(env, 30)  # warm-up
    res: dict[str, dict[str, list[float]]] = {k: {"quiet": [], "contended": []} for k in policies}
    for r in range(args.rounds):
        for load in ("quiet", "contended"):
            proc = busy() if load == "contended" else None
            try:
                if proc:
                    time.sleep(0.5)
                for name, use in policies.items():
                    use()
                    fps(env, 20)  # settle (the governor finds the count for this load)
                    res[name][load].append(fps(env, args.steps))
            finally:
                if proc:
                    proc.kill()
                    proc.wait()
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    out = {}
    print(f"{'policy':>22} {'quiet':>8} {'contended':>10} {'ratio':>6}")
    for name, v in res.items():
        q, c = statistics.median(v["quiet"]), statistics.median(v["contended"])
        out[name] = {"quiet_fps": round(q, 1), "contended_fps": round(c, 1), "ratio": round(c / q, 3)}
        print(f"{name:>22} {q:8.1f} {c:10.1f} {c / q:6.2f}")
    d, f = out["default (governor)"], out[f"fixed {most} threads"]
    print(f"bar: default contended/quiet {d['ratio']:.2f} (>= 0.70: {'met' if d['ratio'] >= 0.7 else 'MISSED'}); "
          f"default quiet / fixed {most} quiet {d['quiet_fps'] / f['quiet_fps']:.2f} (>= 0.90: "
          f"{'met' if d['quiet_fps'] >= 0.9 * f['quiet_fps'] else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
