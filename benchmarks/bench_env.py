"""Env throughput, optionally side by side with another commit.

Prints steps/s of WorldEnv with the warp backend at 64x64 and 128x128 for the discrete
scripted walk (the primary frame alone, and fused with 2 neighbours on each side), of one
STAR session (the shipped checkpoint) and lane-steps/s of the vector env at 16 lanes. With ``--against REF`` the same
measurement runs on a git worktree of REF in a child process, alternating with this
checkout round by round on the same machine, and prints the medians and their ratio: the
shared machines here are noisy, so only a side-by-side ratio means anything.

    python benchmarks/bench_env.py [--steps 300] [--against 1b62ec0 --rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [(64, 0), (64, 2), (128, 0), (128, 2)]


def steps_per_second(size: int, steps: int, neighbours: int) -> float:
    from inspatio_gym import WarpBackend, WorldEnv
    from inspatio_gym.rollout import scripted_actions
    from inspatio_gym.world import procedural_world

    world = procedural_world(seed=0, num_frames=48, width=size, height=size)
    env = WorldEnv(world=world, time_mode="loop", backend=WarpBackend(neighbours=neighbours))
    act = scripted_actions("discrete")
    env.reset(seed=0)
    for k in range(20):  # warm-up (numba kernels compiled or loaded from the cache)
        env.step(act(k))
    t0 = time.perf_counter()
    for k in range(steps):
        env.step(act(k))
    return steps / (time.perf_counter() - t0)


def star_steps_per_second(steps: int) -> float:
    """The shipped STAR checkpoint, one session at 64x64."""
    from inspatio_gym import WorldEnv
    from inspatio_gym.rollout import scripted_actions
    from inspatio_gym.world import procedural_world

    env = WorldEnv(world=procedural_world(seed=0, num_frames=48), time_mode="loop", backend="star")
    act = scripted_actions("discrete")
    env.reset(seed=0)
    for k in range(10):
        env.step(act(k))
    t0 = time.perf_counter()
    for k in range(steps):
        env.step(act(k))
    return steps / (time.perf_counter() - t0)


def vector_steps_per_second(backend: str, num_envs: int, steps: int) -> float:
    """Lane-steps/s of the natively batched vector env (random actions, seeded)."""
    import numpy as np

    from inspatio_gym import WorldVectorEnv

    venv = WorldVectorEnv(num_envs=num_envs, world="procedural:seed=0,num_frames=48", time_mode="loop",
                          backend=backend)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        venv.step(rng.integers(0, 9, num_envs))
    t0 = time.perf_counter()
    for _ in range(steps):
        venv.step(rng.integers(0, 9, num_envs))
    return steps * num_envs / (time.perf_counter() - t0)


def measure(steps: int, threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    out = {f"{s}x{s} fused {1 + 2 * n}": steps_per_second(s, steps, n) for s, n in CASES}
    out["star 64x64"] = star_steps_per_second(max(steps // 5, 20))
    out["vector warp x16"] = vector_steps_per_second("warp", 16, max(steps // 3, 20))
    out["vector star x16"] = vector_steps_per_second("star", 16, max(steps // 30, 5))
    return out


def _worktree(ref: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench_env_")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), ref], check=True)
    return path


def _run_in(tree: Path, steps: int, threads: int) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(ROOT / 'benchmarks')!r});"
            f"import bench_env; print(json.dumps(bench_env.measure({steps}, {threads})))")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--against", help="a git ref to measure side by side with this checkout")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds with --against")
    args = p.parse_args()
    if not args.against:
        for case, sps in measure(args.steps, args.threads).items():
            print(f"{case:>18} {sps:>9.0f} steps/s {1000 / sps:>7.3f} ms/step")
        return
    from tqdm.auto import tqdm

    base = _worktree(args.against)
    ours_tree = ROOT
    runs: dict[str, list[dict[str, float]]] = {"ours": [], args.against: []}
    try:
        for _ in tqdm(range(args.rounds), desc=f"ours vs {args.against}"):
            runs["ours"].append(_run_in(ours_tree, args.steps, args.threads))
            runs[args.against].append(_run_in(base, args.steps, args.threads))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print(f"WorldEnv steps/s, warp backend, median of {args.rounds} alternating rounds ({args.threads} threads)")
    print(f"{'case':>18} {'ours':>9} {args.against:>10} {'ratio':>7}")
    for case in runs["ours"][0]:
        a = statistics.median(r[case] for r in runs["ours"])
        b = statistics.median(r[case] for r in runs[args.against])
        print(f"{case:>18} {a:>9.0f} {b:>10.0f} {a / b:>6.2f}x")


if __name__ == "__main__":
    main()
