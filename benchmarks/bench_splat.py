"""Forward splat: the torch reference ``forward_warp_torch`` against the numba kernel ``forward_warp_numba``.

Milliseconds per call (median of --reps after warm-up) at 64x64 for batch 1 and 16 and
F = 1 and 5 source frames, 2 threads for both (torch.set_num_threads, numba
set_num_threads), and the speed-up. Also times the first calls of the numba kernels in
fresh processes: JIT compile into an empty cache, then loading that cache.
Run: python benchmarks/bench_splat.py [--size 64] [--reps 20] [--threads 2] [--skip-compile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from inspatio_gym.geometry.camera import intrinsics_from_fov, make_pose, rot_x, rot_y
from inspatio_gym.geometry.splat_numba import warmup
from inspatio_gym.geometry.warp import forward_warp_numba, forward_warp_torch


def inputs(B: int, F: int, H: int, W: int, seed: int = 0):
    """A scene-like case: smooth depth, small camera offsets, like the vector env's lanes."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(B, F, H, W, 3, generator=g)
    v, u = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    depth = (2 + torch.sin(3 * u + 2 * v) + 0.2 * torch.rand(B, F, H, W, generator=g)).float()
    K = torch.from_numpy(intrinsics_from_fov(W, H, 60))
    rs = np.random.default_rng(seed)

    def pose(yaw: float, pitch: float, shift: float) -> np.ndarray:
        R = rot_y(yaw * rs.standard_normal()) @ rot_x(pitch * rs.standard_normal())
        return make_pose(R, shift * rs.standard_normal(3))

    src = np.stack([[pose(0.05, 0.0, 0.1) for _ in range(F)] for _ in range(B)])
    tgt = np.stack([pose(0.1, 0.05, 0.1) for _ in range(B)])
    return rgb, depth, K, torch.from_numpy(src), torch.from_numpy(tgt)


def time_ms(fn, args, reps: int, warm: int = 3) -> float:
    for _ in range(warm):
        fn(*args)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


_FIRST_CALL = """
import time
t0 = time.perf_counter()
from inspatio_gym.geometry import splat_numba
t1 = time.perf_counter()
splat_numba.warmup()
print(t1 - t0, time.perf_counter() - t1)
"""


def first_call_seconds() -> list[tuple[str, float, float]]:
    """(import s, first calls s) in fresh processes: compiling into an empty numba cache,
    then loading that cache (the first env step of every later process)."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for what in ("cold (JIT compile)", "cached"):
            r = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True, check=True)
            t_import, t_first = map(float, r.stdout.split())
            out.append((what, t_import, t_first))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-compile", action="store_true", help="do not time the first call in fresh processes")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    import numba

    numba.set_num_threads(args.threads)
    warmup()
    print(f"numba {numba.__version__} (threading layer {numba.threading_layer()}), torch {torch.__version__}")
    if not args.skip_compile:
        for what, t_import, t_first in first_call_seconds():
            print(f"first calls (B=1 and B=2), {what}: {t_first:.2f} s (+ {t_import:.2f} s to import it all)")
    S = args.size
    print(f"{S}x{S}, {args.threads} threads, median of {args.reps} after warm-up")
    print(f"{'B':>3} {'F':>2} {'torch ms':>9} {'numba ms':>9} {'speed-up':>9}")
    for B in (1, 16):
        for F in (1, 5):
            x = inputs(B, F, S, S)
            tt = time_ms(forward_warp_torch, x, args.reps)
            tn = time_ms(forward_warp_numba, x, args.reps)
            print(f"{B:>3} {F:>2} {tt:>9.3f} {tn:>9.3f} {tt / tn:>8.1f}x")


if __name__ == "__main__":
    main()
