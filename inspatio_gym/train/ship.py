"""Ship a trained generator: copy the chain's last export (the refine stage's) into the
package and write its model card (data, stages, steps, wall time, machine, measured
quality, sha256).

Every table in the card is generated: the stages from runs/*/summary.json (kept, for the
runs of an earlier session that are gone, in the training record
docs/results/star/training.json, which this also rewrites), the quality from the
evaluation's results.json (benchmarks/eval_star.py).

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
from .data.seeds import HELD_OUT_SCENES

__all__ = ["ship", "model_card"]

#: The chain that makes the shipped checkpoint, in order: (run folder, config, export).
CHAIN = [
    ("vae_cpu", "configs/train/vae_cpu.toml", "vae.safetensors"),
    ("teacher_synthetic_cpu", "configs/train/teacher_synthetic_cpu.toml", "teacher.safetensors"),
    ("teacher_real_cpu", "configs/train/teacher_real_cpu.toml", "teacher.safetensors"),
    ("causal_cpu", "configs/train/causal_cpu.toml", "star.safetensors"),
    ("distill_cpu", "configs/train/distill_cpu.toml", "star.safetensors"),
    ("refine_cpu", "configs/train/refine_cpu.toml", "star.safetensors"),
]
RECORD = Path("docs/results/star/training.json")
#: The evaluation's summary columns in the card: (key, header, format).
COLUMNS = (("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".3f"), ("psnr_holes", "PSNR in warp holes", ".2f"),
           ("psnr_seam", "PSNR in the 2-px seam band", ".2f"), ("blockiness", "4-px blockiness in holes", ".2f"))


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


def training_record(runs: Path, previous: dict) -> dict:
    """Per chain run, its summary row: from runs/<run>/summary.json when it is there, else the
    previous record's (an earlier session's run)."""
    rows = {}
    for run, config, _ in CHAIN:
        p = runs / run / "summary.json"
        if p.is_file():
            s = json.loads(p.read_text())
            c = json.loads((runs / run / "config.json").read_text())
            rows[run] = {"stage": s["stage"], "config": config, "steps": s["steps"], "batch": c["batch"],
                         "device": s["device"], "world_size": s["world_size"], "seconds": s["seconds"],
                         "last": s["last"]}
        elif run in previous.get("runs", {}):
            rows[run] = previous["runs"][run]
    return {"note": previous.get("note", "Per-stage records of the chain behind the shipped checkpoint."), "runs": rows}


def quality_tables(results: dict) -> list[str]:
    """Markdown tables of the evaluation's summary: procedural and real held-out, per method."""
    out = []
    summary = results.get("summary", {})
    for kind, title in (("procedural", "held-out procedural worlds"), ("real", "held-out real multi-view scenes "
                                                                              "(novel views)")):
        rows = summary.get(kind)
        if not rows:
            continue
        out += [f"**{title}**" + (f" ({', '.join(summary.get('real_scenes', []))})" if kind == "real" else ""), "",
                "| method | " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        for name, r in rows.items():
            cells = [format(r[k], f) if isinstance(r.get(k), (int, float)) else "" for k, _, f in COLUMNS]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        truth = next((r.get("blockiness_truth") for r in rows.values() if r.get("blockiness_truth") is not None), None)
        if truth is not None:
            out += ["", f"The truth's own blockiness in the same holes: {truth:.2f}."]
        out.append("")
    return out


def model_card(ckpt: Path, runs: Path, results: Path | None, record: dict | None = None) -> str:
    cfg, state, meta = load_checkpoint(ckpt)
    record = record or training_record(runs, {})
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
             f"{[round(s, 4) for s in cfg.sampler.sigmas()]}); refiner "
             f"{f'{cfg.refine} channels at full resolution (model.refine)' if cfg.refine else 'none'}",
             f"- card written on: {_cpu()}, torch {torch.__version__} (each stage's device is in the table)", "",
             "## Data", "",
             "- Synthetic multi-view pairs from procedural worlds (training seeds 0–511 of `TRAIN_SEEDS`; the "
             "evaluation seeds `HELD_OUT_SEEDS` = 900000–900031 are never used): a reference video along a source "
             "path and a target camera at the same times, offset and drifting, both rendered exactly; the "
             "condition is the STAR backend's own warp of the reference.",
             "- Real clips (`../shared/data/real`: 7-Scenes redkitchen with its measured depth and poses; three "
             "static-camera clips with the ground-plane depth prior): the target is the video, the condition its "
             "double reprojection, the reference window time-shifted by 2–6 frames.",
             "- Real multi-view scenes (`../shared/data/real_multiview`, refine stage): true novel views, a source "
             "frame rendered at another frame's camera and that real frame the truth; training scenes: those "
             f"outside `HELD_OUT_SCENES` = {', '.join(HELD_OUT_SCENES)} (evaluation only, refused by every loader). "
             "The data is the scenes' licence holders' (see their SOURCE.md; research use); none of it ships.", "",
             "## Stages", "", "| stage | config | steps | batch | device x processes | wall time | final figures |",
             "|---|---|---|---|---|---|---|"]
    total = 0.0
    for run, config, _ in CHAIN:
        s = record["runs"].get(run)
        if s is None:
            lines.append(f"| {run} | `{config}` | not run | | | | |")
            continue
        total += s["seconds"]
        last = ", ".join(f"{k} {v:.4g}" for k, v in s["last"].items() if k in
                         ("loss", "flow_mse", "psnr", "dmd_loss", "critic_flow_mse", "gt_mse", "target_mse",
                          "psnr_holes", "psnr_holes_warp"))
        lines.append(f"| {s['stage']} | `{config}` | {s['steps']} | {s['batch']} | {s['device']} x{s['world_size']} | "
                     f"{s['seconds'] / 60:.1f} min | {last} |")
    lines += ["", f"Total training wall time: {total / 60:.1f} min.", ""]
    lines += ["## Reproduce", "", "```bash"] + [f"inspatio-gym train --config {config}" for _, config, _ in CHAIN] + [
        "python -m inspatio_gym.train.ship   # copies runs/refine_cpu/star.safetensors here, writes this card",
        "python benchmarks/eval_star.py       # docs/results/star/REPORT.md", "```", ""]
    if results is not None and results.is_file():
        r = json.loads(results.read_text())
        lines += ["## Measured quality (`benchmarks/eval_star.py`, full report in `docs/results/star/REPORT.md`)", ""]
        lines += quality_tables(r)
        lr = r.get("long_rollout", {}).get("star")
        if lr:
            lines += [f"{r['long_steps']}-step rollout: {lr['first_50']:.2f} dB over the first 50 steps, "
                      f"{lr['last_50']:.2f} dB over the last 50.", ""]
        if r.get("sha256") and r["sha256"] != _sha256(ckpt):
            lines += ["**The evaluation results are of a different file than this checkpoint.**", ""]
    lines += ["## Limits", "",
              f"{cfg.width}x{cfg.height} frames; the VAE and the transformer of this checkpoint were trained on "
              "procedural clips and the four real clips only (real frames reconstruct ~5 dB worse than procedural "
              "ones); the refiner saw real multi-view scenes. About "
              f"{total / 3600:.1f} hours of 2-core CPU training in all. The same configs scale by `model`, "
              "`steps`, `batch` and `--device cuda`/torchrun.", ""]
    return "\n".join(lines)


def stage_table(record: dict) -> list[str]:
    """README's table of what the shipped checkpoint took, stage by stage."""
    lines = ["| stage | config | steps x batch | wall time |", "|---|---|---|---|"]
    total = 0.0
    for run, config, _ in CHAIN:
        r = record["runs"].get(run)
        if r is None:
            continue
        total += r["seconds"]
        lines.append(f"| {run} | `{Path(config).name}` | {r['steps']:,} x {r['batch']} | {r['seconds'] / 60:.1f} min |")
    lines.append(f"| total | | | {total / 60:.1f} min |")
    return lines


def speed_table(speed: dict) -> list[str]:
    """README's generator speed table (benchmarks/bench_star.py --json)."""
    lines = ["| size | refiner | batch | frames/s | ms/step | GFLOP/s | of matmul rate |", "|---|---|---|---|---|---|---|"]
    for size, r in speed.items():
        for row in r["rows"]:
            lines.append(f"| {size} | {r['refine'] or 'none'} | {row['batch']} | {row['fps']:.1f} | "
                         f"{row['ms_per_step']:.1f} | {row['gflops']:.0f} | {row['roofline']:.0%} |")
    return lines


def update_readme(readme: Path, blocks: dict[str, list[str]]) -> None:
    """Replace each generated block of README (between its markers) with its new lines."""
    text = readme.read_text()
    for name, lines in blocks.items():
        begin, end = f"<!-- generated by inspatio_gym.train.ship: {name} -->", f"<!-- end of {name} -->"
        a, b = text.find(begin), text.find(end)
        if a < 0 or b < a:
            raise ValueError(f"{readme} has no generated block {name!r} (markers {begin!r} ... {end!r})")
        text = text[: a + len(begin)] + "\n" + "\n".join(lines) + "\n" + text[b:]
    with atomic_path(readme, ".tmp") as tmp:
        Path(tmp).write_text(text)


def ship(runs: Path, results: Path | None, dest: Path = DEFAULT_CHECKPOINT, record_path: Path = RECORD,
         copy: bool = True, readme: Path | None = None, speed: Path | None = None) -> Path:
    """Copy the chain's last export to dest (copy=False: only rewrite the card, e.g. after a
    new evaluation) and write its card and the training record."""
    if copy:
        src = runs / CHAIN[-1][0] / CHAIN[-1][2]
        load_checkpoint(src)  # refuse to ship a broken file
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            with atomic_path(dest, ".tmp") as tmp:
                shutil.copyfile(src, tmp)
    previous = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record = training_record(runs, previous)
    card = dest.with_name("MODEL_CARD.md")
    with atomic_path(card, ".tmp") as tmp:
        Path(tmp).write_text(model_card(dest, runs, results, record))
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(record_path, ".tmp") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    if readme is not None:
        blocks = {"star-training": stage_table(record)}
        if results is not None and results.is_file():
            blocks["star-quality"] = quality_tables(json.loads(results.read_text()))
        if speed is not None and speed.is_file():
            blocks["star-speed"] = speed_table(json.loads(speed.read_text()))
        update_readme(readme, blocks)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description="copy the distilled checkpoint into the package and write its model card")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--results", type=Path, default=Path("docs/results/star/results.json"))
    ap.add_argument("--speed", type=Path, default=Path("docs/results/star/speed.json"),
                    help="benchmarks/bench_star.py --json output, for README's speed table")
    ap.add_argument("--readme", type=Path, default=Path("README.md"), help="README whose generated blocks to rewrite")
    ap.add_argument("--card-only", action="store_true", help="rewrite the card, record and README without copying")
    args = ap.parse_args()
    dest = ship(args.runs, args.results, copy=not args.card_only, readme=args.readme, speed=args.speed)
    print(f"{'carded' if args.card_only else 'shipped'} {dest}")


if __name__ == "__main__":
    main()
