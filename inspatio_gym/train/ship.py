"""Ship a trained generator: copy the distill stage's export into the package and write its
model card (data, stages, steps, wall time, machine, measured quality, sha256).

    python -m inspatio_gym.train.ship [--runs runs] [--results docs/results/star/results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
from pathlib import Path

import torch

from ..io.atomic import atomic_path
from ..model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

__all__ = ["ship", "model_card"]

#: The chain that makes the shipped checkpoint, in order: (run folder, config, export).
CHAIN = [
    ("vae_cpu", "configs/train/vae_cpu.toml", "vae.safetensors"),
    ("teacher_synthetic_cpu", "configs/train/teacher_synthetic_cpu.toml", "teacher.safetensors"),
    ("teacher_real_cpu", "configs/train/teacher_real_cpu.toml", "teacher.safetensors"),
    ("causal_cpu", "configs/train/causal_cpu.toml", "star.safetensors"),
    ("distill_cpu", "configs/train/distill_cpu.toml", "star.safetensors"),
]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def model_card(ckpt: Path, runs: Path, results: Path | None) -> str:
    cfg, state, meta = load_checkpoint(ckpt)
    params = sum(t.numel() for t in state.values())
    lines = ["# Model card: `star_cpu.safetensors`", "",
             "The STAR generator `backend=\"star\"` loads by default: a tiny causal VAE and a block-causal "
             "diffusion transformer, trained from scratch on this repository's data with its own configs "
             "(nothing downloaded).", "",
             f"- file: `inspatio_gym/data/checkpoints/{ckpt.name}`, {ckpt.stat().st_size / 1e6:.2f} MB, "
             f"{params / 1e6:.2f} M parameters, safetensors",
             f"- sha256: `{_sha256(ckpt)}`",
             f"- model config: {cfg.width}x{cfg.height}, VAE {cfg.vae.spatial_compression}x, latent "
             f"{cfg.vae.latent_channels} channels; DiT width {cfg.dit.width}, depth {cfg.dit.depth}, "
             f"{cfg.dit.heads} heads, patch {cfg.dit.patch}; cache: reference window ±{cfg.ref_window}, "
             f"history {cfg.history}; sampler {cfg.sampler.steps} steps (sigmas "
             f"{[round(s, 4) for s in cfg.sampler.sigmas()]})",
             f"- card written on: {_cpu()}, torch {torch.__version__} (each stage's device is in the table)", "",
             "## Data", "",
             "- Synthetic multi-view pairs from procedural worlds (training seeds 0–511 of `TRAIN_SEEDS`; the "
             "evaluation seeds `HELD_OUT_SEEDS` = 900000–900031 are never used): a reference video along a source "
             "path and a target camera at the same times, offset and drifting, both rendered exactly; the "
             "condition is the STAR backend's own warp of the reference.",
             "- Real clips (`../shared/data/real`: 7-Scenes redkitchen with its measured depth and poses; three "
             "static-camera clips with the ground-plane depth prior): the target is the video, the condition its "
             "double reprojection, the reference window time-shifted by 2–6 frames.", "",
             "## Stages", "", "| stage | config | steps | batch | device x processes | wall time | final figures |",
             "|---|---|---|---|---|---|---|"]
    total = 0.0
    for run, config, _ in CHAIN:
        p = runs / run / "summary.json"
        if not p.is_file():
            lines.append(f"| {run} | `{config}` | not run | | | | |")
            continue
        s = json.loads(p.read_text())
        c = json.loads((runs / run / "config.json").read_text())
        total += s["seconds"]
        last = ", ".join(f"{k} {v:.4g}" for k, v in s["last"].items() if k in
                         ("loss", "flow_mse", "psnr", "dmd_loss", "critic_flow_mse", "gt_mse", "target_mse"))
        lines.append(f"| {s['stage']} | `{config}` | {s['steps']} | {c['batch']} | {s['device']} x{s['world_size']} | "
                     f"{s['seconds'] / 60:.1f} min | {last} |")
    lines += ["", f"Total training wall time: {total / 60:.1f} min.", ""]
    lines += ["## Reproduce", "", "```bash"] + [f"inspatio-gym train --config {config}" for _, config, _ in CHAIN] + [
        "python -m inspatio_gym.train.ship   # copies runs/distill_cpu/star.safetensors here, writes this card",
        "python benchmarks/eval_star.py       # docs/results/star/REPORT.md", "```", ""]
    if results is not None and results.is_file():
        r = json.loads(results.read_text())
        lines += ["## Measured quality (`benchmarks/eval_star.py`, full report in `docs/results/star/REPORT.md`)", ""]
        import numpy as np

        lines += ["| method | PSNR | SSIM | PSNR in warp holes |", "|---|---|---|---|"]
        for name, rows in r["held_out"].items():
            f = {k: float(np.nanmean([x[k] for x in rows])) for k in ("psnr", "ssim", "psnr_holes")}
            lines.append(f"| {name} | {f['psnr']:.2f} | {f['ssim']:.3f} | {f['psnr_holes']:.2f} |")
        lr = r["long_rollout"]["star"]
        lines += ["", f"{r['long_steps']}-step rollout: {lr['first_50']:.2f} dB over the first 50 steps, "
                  f"{lr['last_50']:.2f} dB over the last 50.", ""]
        if r.get("sha256") and r["sha256"] != _sha256(ckpt):
            lines += ["**The evaluation results are of a different file than this checkpoint.**", ""]
    lines += ["## Limits", "",
              "64x64 frames; a VAE trained on procedural clips only (real frames reconstruct ~5 dB worse); "
              "about an hour of 2-core CPU training in all. The same configs scale by `model`, `steps`, "
              "`batch` and `--device cuda`/torchrun.", ""]
    return "\n".join(lines)


def ship(runs: Path, results: Path | None, dest: Path = DEFAULT_CHECKPOINT) -> Path:
    src = runs / CHAIN[-1][0] / CHAIN[-1][2]
    load_checkpoint(src)  # refuse to ship a broken file
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() != dest.resolve():
        with atomic_path(dest, ".tmp") as tmp:
            shutil.copyfile(src, tmp)
    card = dest.with_name("MODEL_CARD.md")
    with atomic_path(card, ".tmp") as tmp:
        Path(tmp).write_text(model_card(dest, runs, results))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description="copy the distilled checkpoint into the package and write its model card")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--results", type=Path, default=Path("docs/results/star/results.json"))
    args = ap.parse_args()
    print(f"shipped {ship(args.runs, args.results)}")


if __name__ == "__main__":
    main()
