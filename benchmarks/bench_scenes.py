"""Render speed of the procedural scenes (ms per frame).

Budget on the 2-core CPU box: 64x64 <= 5 ms, 256x256 <= 50 ms per frame (supersample=1).
Run: .venv/bin/python benchmarks/bench_scenes.py [--kind room] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from inspatio_gym.geometry.camera import intrinsics_from_fov
from inspatio_gym.scenes import make_scene

BUDGET_MS = {64: 5.0, 256: 50.0}


def time_render(scene, size: int, batch: int, runs: int, supersample: int = 1) -> float:
    """Median ms per frame over `runs` timed calls after warm-up."""
    K = torch.from_numpy(intrinsics_from_fov(size, size))
    c2w = scene.source_path("orbit", batch).to(torch.float32)
    t = torch.linspace(0.0, 1.0, batch)
    for _ in range(3):
        scene.render(c2w, K, size, size, t, supersample)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        scene.render(c2w, K, size, size, t, supersample)
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", default="room")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scene = make_scene(args.seed, args.kind)
    print(f"{scene!r}  torch {torch.__version__}  threads {torch.get_num_threads()}")
    print(f"{'size':>9} {'batch':>5} {'ss':>3} {'ms/frame':>9}  budget")
    for size in (64, 128, 256):
        for batch in (1, 8):
            ms = time_render(scene, size, batch, args.runs)
            budget = BUDGET_MS.get(size)
            verdict = "" if budget is None else (f"<= {budget:g} ok" if ms <= budget else f"> {budget:g} OVER")
            print(f"{size:>4}x{size:<4} {batch:>5} {1:>3} {ms:>9.2f}  {verdict}")
    ms = time_render(scene, 128, 1, max(5, args.runs // 3), supersample=2)
    print(f"{128:>4}x{128:<4} {1:>5} {2:>3} {ms:>9.2f}")


if __name__ == "__main__":
    main()
