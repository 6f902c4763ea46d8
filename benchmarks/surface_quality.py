"""The mesh surface against the point splat, side by side in one run: quality and speed.

Quality: on held-out procedural worlds, PSNR of covered pixels and of the full (filled)
frame for random moves up to 0.5 x scale with turns up to 10 degrees, at 64, 128 and 256
px; on a real clip with measured poses (the shared 7-Scenes kitchen, when present),
speckle of novel views (time frozen at frame i, the camera at the pose of frame i+2:
pixels more than 40 grey levels off their 3x3 median) next to the real frames' own rate.
Speed: median render time of 16 lanes at 64 px and one lane at 256 px, both surfaces
alternating. Writes a labelled contact sheet of novel views to --out.
Run: python benchmarks/surface_quality.py [--out docs/results/surface]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from inspatio_gym.backends import WarpBackend
from inspatio_gym.eval import warp_accuracy
from inspatio_gym.eval.warp_accuracy import random_moves
from inspatio_gym.render.warp import WarpRenderer
from inspatio_gym.train.data.seeds import HELD_OUT_SEEDS
from inspatio_gym.world import procedural_world

SURFACES = ("splat", "mesh")
KITCHEN = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "7scenes_redkitchen"


def speckle(rgb: np.ndarray) -> float:
    """Share of pixels more than 40 grey levels off the median of their 3x3 neighbourhood."""
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]).astype(np.int16)
    med = np.stack([cv2.medianBlur(g.astype(np.uint8), 3) for g in grey]).astype(np.int16)
    return float((np.abs(grey - med) > 40)[:, 1:-1, 1:-1].mean())


def procedural(sizes: list[int], worlds: int) -> dict:
    out = {}
    for size in sizes:
        ws = [procedural_world(seed=s, num_frames=24, width=size, height=size) for s in HELD_OUT_SEEDS[:worlds]]
        for surface in SURFACES:
            acc = [warp_accuracy(w, 16, 0.5, 10.0, seed=k, backend=WarpBackend(surface=surface))
                   for k, w in enumerate(ws)]
            out[f"{size}/{surface}"] = {"psnr_covered": float(np.mean([a.psnr_covered for a in acc])),
                                        "psnr_full": float(np.mean([a.psnr_full for a in acc])),
                                        "coverage": float(np.mean([a.coverage for a in acc]))}
            r = out[f"{size}/{surface}"]
            print(f"procedural {size:>3}px {surface:>5}: covered {r['psnr_covered']:.2f} dB  full "
                  f"{r['psnr_full']:.2f} dB  coverage {r['coverage']:.3f}")
    return out


def kitchen(sizes: list[int], out_dir: Path | None) -> dict:
    if not KITCHEN.exists():
        print(f"real clip skipped: {KITCHEN} not present")
        return {}
    from inspatio_gym.world import seven_scenes_world

    res, sheet = {}, []
    for size in sizes:
        w = seven_scenes_world(KITCHEN, width=size, height=size)
        i = np.arange(0, w.num_frames - 2, 3)
        real = speckle(w.frames[i + 2])
        res[f"{size}/real"] = real
        row = [w.frames[i[len(i) // 2] + 2]]
        for surface in SURFACES:
            view = WarpRenderer(surface=surface).render(w, w.c2w[i + 2].copy(), i)
            res[f"{size}/{surface}"] = speckle(view.rgb)
            row.append(view.rgb[len(i) // 2])
        print(f"7-Scenes {size:>3}px speckle: real {100 * real:.2f}%  splat {100 * res[f'{size}/splat']:.2f}%  "
              f"mesh {100 * res[f'{size}/mesh']:.2f}%")
        sheet.append(np.concatenate([cv2.resize(f, (256, 256), interpolation=cv2.INTER_NEAREST) for f in row], 1))
    if out_dir is not None:
        img = np.concatenate(sheet, 0)
        for k, label in enumerate(("real frame i+2", "splat", "mesh")):
            cv2.putText(img, label, (k * 256 + 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        for r, size in enumerate(sizes):
            cv2.putText(img, f"{size}px", (6, r * 256 + 250), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        cv2.imwrite(str(out_dir / "kitchen_novel_views.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return res


def speed(rounds: int) -> dict:
    res = {}
    for lanes, size in ((16, 64), (1, 256)):
        w = procedural_world(seed=HELD_OUT_SEEDS[0], num_frames=24, width=size, height=size)
        frames, tgt = random_moves(w, lanes, 0.25, 10.0, 0)
        rend = {s: WarpRenderer(surface=s) for s in SURFACES}
        times = {s: [] for s in SURFACES}
        for s in SURFACES:
            rend[s].render(w, tgt, frames)  # compile / load the kernels
        for _ in range(rounds):
            for s in SURFACES:
                t0 = time.perf_counter()
                rend[s].render(w, tgt, frames)
                times[s].append(time.perf_counter() - t0)
        med = {s: float(np.median(times[s])) for s in SURFACES}
        res[f"{lanes}x{size}"] = {s: lanes / med[s] for s in SURFACES}
        print(f"render {lanes:>2} lanes x {size}px: splat {lanes / med['splat']:.0f} views/s  mesh "
              f"{lanes / med['mesh']:.0f} views/s  (mesh / splat {med['splat'] / med['mesh']:.2f}x)")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="folder for results.json and the contact sheet")
    ap.add_argument("--worlds", type=int, default=3, help="held-out procedural worlds per size")
    ap.add_argument("--rounds", type=int, default=30, help="timed renders per surface")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    sizes = [64, 128, 256]
    results = {"speed": speed(args.rounds), "kitchen_speckle": kitchen(sizes, args.out),
               "procedural": procedural(sizes, args.worlds)}
    if args.out:
        (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
