"""STAR generator speed on this machine: frames/s, FLOPs, roofline ratio, memory.

Times StarGenerator.step alone (render, mask and fill prepared beforehand by the warp) for
batch 1, 4 and 16 at the config's resolution, counts FLOPs per frame from the config,
measures a large fp32 matmul in the same run as the machine's attainable rate, and prints
achieved / matmul (the roofline ratio). The model is the shipped checkpoint's (with its
refiner) unless --config or --checkpoint says otherwise; the weights do not change the
speed. Targets on 2 CPU cores (issue 13): 64x64 >= 60 frames/s for one session and >= 150
frames/s aggregate at batch 16; 128x128 >= 24 frames/s for one session.
Run: python benchmarks/bench_star.py [--config cpu | --checkpoint PATH] [--refine 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

import dataclasses

from inspatio_gym.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from inspatio_gym.render.condition import condition_from_view, condition_renderer, fill_from_view
from inspatio_gym.eval.warp_accuracy import random_moves
from inspatio_gym.model import CONFIGS, StarGenerator, generator_flops_per_frame
from inspatio_gym.world import procedural_world


def matmul_gflops(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times) / 1e9


def bench(gen: StarGenerator, world, batch: int, steps: int) -> tuple[float, int, int]:
    """(frames/s aggregate, bytes per session, bytes per world)."""
    wc = gen.encode_reference(torch.from_numpy(world.frames))
    sessions = gen.new_sessions(batch)
    lanes = torch.arange(batch)
    frames0 = torch.arange(batch) % world.num_frames
    gen.reset_sessions(wc, sessions, lanes, frames0, torch.arange(batch))
    fr, tgt = random_moves(world, batch, 0.15, 8.0, seed=0)
    view = condition_renderer().render(world, tgt, frames0.numpy())
    render, mask = condition_from_view(view)
    fill = fill_from_view(view)
    timings = []
    for k in range(steps + 5):
        frames = (frames0 + k) % world.num_frames
        t0 = time.perf_counter()
        gen.step(wc, sessions, lanes, frames, render, mask, fill=fill)
        if k >= 5:
            timings.append(time.perf_counter() - t0)
    per_step = statistics.median(timings)
    return batch / per_step, sessions.nbytes_per_lane(), wc.nbytes()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, choices=sorted(CONFIGS), help="a named config (random weights)")
    p.add_argument("--checkpoint", default=None, help="a STAR checkpoint (default: the shipped one)")
    p.add_argument("--refine", type=int, default=None, help="refiner channels to use instead (0: none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--json", default=None, help="also write the figures here (README's speed table is made from it)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.config is not None:
        cfg, name = CONFIGS[args.config], args.config
    else:
        path = args.checkpoint or DEFAULT_CHECKPOINT
        cfg, name = load_checkpoint(path)[0], str(path)
    if args.refine is not None:
        cfg = dataclasses.replace(cfg, refine=args.refine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = StarGenerator(cfg).eval()
    world = procedural_world(seed=0, num_frames=48, width=cfg.width, height=cfg.height)
    flops = generator_flops_per_frame(cfg)
    params = sum(p.numel() for p in gen.parameters())
    print(f"config {name!r}: {cfg.width}x{cfg.height}, refiner {cfg.refine or 'none'}, {params / 1e6:.2f}M params "
          f"(DiT {sum(p.numel() for p in gen.dit.parameters()) / 1e6:.2f}M, VAE "
          f"{sum(p.numel() for p in gen.vae.parameters()) / 1e6:.2f}M), {cfg.tokens_per_frame} tokens/frame, "
          f"{cfg.sampler.steps} steps, context {2 * cfg.ref_window + 1} ref + {cfg.history} history frames")
    print("FLOPs per frame: " + ", ".join(f"{k} {v / 1e6:.0f}M" for k, v in flops.items()))
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul 1024^3: {peak:.0f} GFLOP/s")
    print(f"{'batch':>5} {'frames/s':>9} {'ms/step':>8} {'GFLOP/s':>8} {'roofline':>8} {'MB/session':>10} {'MB/world':>9}")
    rows = []
    for batch in (1, 4, 16):
        fps, per_session, per_world = bench(gen, world, batch, args.steps)
        achieved = fps * flops["total"] / 1e9
        print(f"{batch:>5} {fps:>9.1f} {1000 * batch / fps:>8.2f} {achieved:>8.1f} {achieved / peak:>8.1%} "
              f"{per_session / 2**20:>10.2f} {per_world / 2**20:>9.2f}")
        rows.append({"batch": batch, "fps": fps, "ms_per_step": 1000 * batch / fps, "gflops": achieved,
                     "roofline": achieved / peak, "mb_per_session": per_session / 2**20, "mb_per_world": per_world / 2**20})
    peak2 = matmul_gflops()
    print(f"matmul again after the run: {peak2:.0f} GFLOP/s (machine load check)")
    bars = {64: {1: 60.0, 16: 150.0}, 128: {1: 24.0}}.get(cfg.height, {})
    for r in rows:
        if r["batch"] in bars:
            bar = bars[r["batch"]]
            verdict = "met" if r["fps"] >= bar else f"missed by {bar - r['fps']:.1f}"
            print(f"bar {cfg.height}x{cfg.width} batch {r['batch']}: {r['fps']:.1f} frames/s vs >= {bar:.0f} ({verdict})")
    if args.json:
        import json
        from pathlib import Path

        out = Path(args.json)
        old = json.loads(out.read_text()) if out.is_file() else {}
        old[f"{cfg.width}x{cfg.height}"] = {"model": name, "refine": cfg.refine, "flops": flops, "params": params,
                                           "matmul_gflops": [peak, peak2], "threads": torch.get_num_threads(),
                                           "rows": rows}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(old, indent=1))


if __name__ == "__main__":
    main()
