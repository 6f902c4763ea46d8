"""Ship the trained generators: copy the chain's last export (the refine stage's) into the
package, and the 128 px chain's beside it, with the sha256 manifest the loader verifies them
against (SHA256SUMS), and write their model card (data, stages, steps, wall time, machine,
measured quality, sha256).

Every table in the card is generated: the stages from runs/*/summary.json (kept, for the
runs of an earlier session that are gone, in the training record
docs/results/star/training.json, which this also rewrites), the quality from the
evaluation's results.json (benchmarks/eval_star.py).

    python -m inspatio_gym.train.ship [--runs runs] [--results docs/results/star/results.json]
                                      [--results128 docs/results/star128/results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import torch

from ..io.atomic import atomic_path, replace_generated_blocks
from ..io.machine import cpu_name
from ..model.checkpoint import DEFAULT_CHECKPOINT, SHIPPED_CHECKPOINTS, load_checkpoint, write_manifest
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
#: The 128 px checkpoint's own runs, on CHAIN's distilled generator: a VAE aligned to CHAIN's
#: (the same latent space at 128 px), then a refiner trained at 128 px.
CHAIN128 = [
    ("vae_cpu128", "configs/train/vae_cpu128.toml", "vae.safetensors"),
    ("refine_cpu128", "configs/train/refine_cpu128.toml", "star.safetensors"),
]
RECORD = Path("docs/results/star/training.json")
#: The evaluation's summary columns in the card: (key, header, format).
COLUMNS = (("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".3f"), ("psnr_holes", "PSNR in warp holes", ".2f"),
           ("psnr_seam", "PSNR in the 2-px seam band", ".2f"), ("blockiness", "latent-grid blockiness in holes", ".2f"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _summary_row(runs: Path, run: str, config: str) -> dict | None:
    p = runs / run / "summary.json"
    if not p.is_file():
        return None
    s = json.loads(p.read_text())
    c = json.loads((runs / run / "config.json").read_text())
    return {"stage": s["stage"], "config": config, "steps": s["steps"], "batch": c["batch"], "device": s["device"],
            "world_size": s["world_size"], "seconds": s["seconds"], "last": s["last"]}


def training_record(runs: Path, previous: dict, only128: bool = False) -> dict:
    """Per chain run, its summary row: from runs/<run>/summary.json when it is there, else the
    previous record's (an earlier session's run).

    only128: only the 128 px checkpoint is shipped from these runs; its whole chain (the 64 px
    stages it was distilled by, then its own) goes to "runs128" and the 64 px checkpoint's
    record stays the previous one."""
    if only128:
        rows128 = {run: r for run, config, _ in CHAIN[:-1] + CHAIN128
                   if (r := _summary_row(runs, run, config)) is not None}
        return {**previous, "runs": previous.get("runs", {}), "runs128": rows128}
    rows = {}
    for run, config, _ in CHAIN + CHAIN128:
        r = _summary_row(runs, run, config)
        if r is not None:
            rows[run] = r
        elif run in previous.get("runs", {}):
            rows[run] = previous["runs"][run]
    return {"note": previous.get("note", "Per-stage records of the chain behind the shipped checkpoint."), "runs": rows}


def chain128_rows(record: dict) -> tuple[list[tuple[str, str, str]], dict]:
    """The 128 px checkpoint's chain and its rows: its own whole chain when it was shipped on
    its own (record["runs128"]), else its two stages on the 64 px checkpoint's chain."""
    if "runs128" in record:
        return CHAIN[:-1] + CHAIN128, record["runs128"]
    return CHAIN128, record["runs"]


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


def _file_lines(ckpt: Path) -> list[str]:
    """The card's facts about one checkpoint file: size, parameters, sha256, config."""
    cfg, state, _ = load_checkpoint(ckpt)
    params = sum(t.numel() for t in state.values())
    return [f"- file: `inspatio_gym/data/checkpoints/{ckpt.name}`, {ckpt.stat().st_size / 1e6:.2f} MB, "
            f"{params / 1e6:.2f} M parameters, safetensors",
            f"- sha256: `{_sha256(ckpt)}`",
            f"- model config: {cfg.width}x{cfg.height}, VAE {cfg.vae.spatial_compression}x (channels "
            f"{list(cfg.vae.channels)}), latent {cfg.vae.latent_channels} channels; DiT width {cfg.dit.width}, depth "
            f"{cfg.dit.depth}, {cfg.dit.heads} heads, patch {cfg.dit.patch}; cache: reference window ±{cfg.ref_window}, "
            f"history {cfg.history}; sampler {cfg.sampler.steps} steps (sigmas "
            f"{[round(s, 4) for s in cfg.sampler.sigmas()]}); refiner "
            f"{f'{cfg.refine} channels at full resolution (model.refine)' if cfg.refine else 'none'}"]


def _stage_rows(chain: list[tuple[str, str, str]], record: dict) -> tuple[list[str], float]:
    lines, total = [], 0.0
    for run, config, _ in chain:
        s = record["runs"].get(run)
        if s is None:
            lines.append(f"| {run} | `{config}` | not run | | | | |")
            continue
        total += s["seconds"]
        last = ", ".join(f"{k} {v:.4g}" for k, v in s["last"].items() if k in
                         ("loss", "flow_mse", "psnr", "dmd_loss", "critic_flow_mse", "gt_mse", "target_mse",
                          "psnr_holes", "psnr_holes_warp", "latent_mse"))
        lines.append(f"| {s['stage']} | `{config}` | {s['steps']} | {s['batch']} | {s['device']} x{s['world_size']} | "
                     f"{s['seconds'] / 60:.1f} min | {last} |")
    return lines, total


def _quality(results: Path | None, ckpt: Path) -> list[str]:
    if results is None or not results.is_file():
        return []
    r = json.loads(results.read_text())
    lines = [f"Measured by `benchmarks/eval_star.py` (report: `{results.parent}/REPORT.md`):", ""]
    lines += quality_tables(r)
    lr = r.get("long_rollout", {}).get("star")
    if lr:
        lines += [f"{r['long_steps']}-step rollout: {lr['first_50']:.2f} dB over the first 50 steps, "
                  f"{lr['last_50']:.2f} dB over the last 50.", ""]
    if r.get("sha256") and r["sha256"] != _sha256(ckpt):
        lines += ["**The evaluation results are of a different file than this checkpoint.**", ""]
    return lines


def model_card(ckpt: Path, runs: Path, results: Path | None, record: dict | None = None,
               ckpt128: Path | None = None, results128: Path | None = None) -> str:
    cfg = load_checkpoint(ckpt)[0]
    record = record or training_record(runs, {})
    has128 = ckpt128 is not None and ckpt128.is_file()
    own128 = has128 and "runs128" in record
    names = f"`{ckpt.name}`" + (f" and `{ckpt128.name}`" if has128 else "")
    lines = [f"# Model card: {names}", "",
             "The STAR generators `backend=\"star\"` loads by default (the one of the world's frame size): a tiny "
             "causal VAE, a block-causal diffusion transformer and a full-resolution refiner, trained from scratch "
             "on this repository's data with its own configs (nothing downloaded).", "",
             f"### {cfg.width}x{cfg.height}", ""] + _file_lines(ckpt) + [""]
    if has128:
        own = ("A transformer distilled by its own chain (the 64 px stages rerun with real multi-view data in "
               "every stage, table below)" if "runs128" in record else
               "The same distilled transformer (its weights are identical)")
        lines += ["### 128x128", "", own + ", with an 8x VAE aligned to that chain's 64 px VAE's latent space "
                  "(`train/stages/vae.py`, key `align`: the encoder regresses onto that VAE's latents of the frame "
                  "at 64 px, the decoder learns 128 px frames from them) and its own refiner trained at 128 px.",
                  ""] + _file_lines(ckpt128) + [""]
    lines += [f"Card written on: {cpu_name()}, torch {torch.__version__} (each stage's device is in the table).", "",
              "## Data", "",
              "- Synthetic multi-view pairs from procedural worlds (training seeds 0–511 of `TRAIN_SEEDS`; the "
              "evaluation seeds `HELD_OUT_SEEDS` = 900000–900031 are never used): a reference video along a source "
              "path and a target camera at the same times, offset and drifting, both rendered exactly; the "
              "condition is the STAR backend's own warp of the reference. Every stage.",
              "- Real multi-view scenes (`../shared/data/real_multiview`): true novel views, a source frame with "
              "the project's own plane-sweep depth rendered at another frame's camera and that real frame the "
              "truth. Training scenes: 7scenes_redkitchen_f400, dtu_scan65, ingp_fox, britishmuseum_ethiopian_head "
              f"(and the frames of video_cotracker_apple for the VAE); `HELD_OUT_SCENES` = {', '.join(HELD_OUT_SCENES)} "
              "are evaluation only and refused by every loader. " + (
                  "64 px checkpoint: its refiner only; the 128 px checkpoint's chain: VAE (frames), fidelity teacher, "
                  "distillation, refiners." if own128 else "VAE (frames), fidelity teacher, distillation, refiners."),
              "- Real clips (`../shared/data/real`: 7-Scenes redkitchen with its measured depth and poses; three "
              "static-camera clips with the ground-plane depth prior): the target is the video, the condition its "
              "double reprojection, the reference window time-shifted by 2–6 frames. VAE, fidelity teacher, "
              "distillation, refiners.",
              "- The data is its licence holders' (see each scene's SOURCE.md; research use, nothing cleared for "
              "commercial use); none of it ships.", "",
              "## Stages", "", "| stage | config | steps | batch | device x processes | wall time | final figures |",
              "|---|---|---|---|---|---|---|"]
    rows, total = _stage_rows(CHAIN, record)
    lines += rows
    if has128:
        chain128, runs128 = chain128_rows(record)
        rows128, total128 = _stage_rows(chain128, {"runs": runs128})
        if own128:
            lines += ["", "The 128x128 checkpoint's own chain (every stage rerun, with real multi-view data):", "",
                      "| stage | config | steps | batch | device x processes | wall time | final figures |",
                      "|---|---|---|---|---|---|---|"]
        lines += rows128
    else:
        total128 = 0.0
    lines += ["", f"Total training wall time: {(total + total128) / 60:.1f} min"
              + (f" ({total128 / 60:.1f} min of it for the 128 px checkpoint's own stages)." if has128 else "."), ""]
    chain = CHAIN + (CHAIN128 if has128 else [])
    if own128:  # the 64 px checkpoint came from the configs of an earlier commit
        lines += [f"The {cfg.width}x{cfg.height} checkpoint was trained with the configs as they were at commit "
                  f"{record.get('commit64', '1f4e705')} (`git show {record.get('commit64', '1f4e705')}:configs/train/"
                  "<name>`); the commands below, with today's configs, make the 128x128 one (and a 64 px "
                  "refine whose evaluation decides whether it replaces the shipped one).", ""]
    lines += ["## Reproduce", "", "```bash"] + [f"inspatio-gym train --config {config}" for _, config, _ in chain] + [
        "python -m inspatio_gym.train.ship   # copies runs/refine_cpu*/star.safetensors here, writes this card",
        "python benchmarks/eval_star.py       # docs/results/star/REPORT.md"] + (
        ["python benchmarks/eval_star.py --checkpoint inspatio_gym/data/checkpoints/star_cpu128.safetensors "
         "--no-ablations --out docs/results/star128"] if has128 else []) + ["```", ""]
    q = _quality(results, ckpt)
    if q:
        lines += [f"## Measured quality, {cfg.width}x{cfg.height}", ""] + q
    q = _quality(results128, ckpt128) if has128 else []
    if q:
        lines += ["## Measured quality, 128x128", ""] + q
    lines += ["## Limits", "",
              "64x64 and 128x128 frames; a tiny model (about 1.3 M parameters) trained in about "
              f"{(total + total128) / 3600:.1f} hours of 2-core CPU time in all, on 4 real multi-view scenes and 4 "
              "real clips besides the procedural worlds. The same configs scale by `model`, `steps`, `batch` and "
              "`--device cuda`/torchrun.", ""]
    return "\n".join(lines)


def stage_table(record: dict) -> list[str]:
    """README's table of what the shipped checkpoint took, stage by stage."""
    lines = ["| stage | config | steps x batch | wall time |", "|---|---|---|---|"]
    total = 0.0
    chain128, runs128 = chain128_rows(record)
    rows = [(run, config, record["runs"].get(run), "") for run, config, _ in CHAIN] + [
        (run, config, runs128.get(run), " (128 px chain)" if "runs128" in record else "") for run, config, _ in chain128]
    for run, config, r, tag in rows:
        if r is None:
            continue
        total += r["seconds"]
        lines.append(f"| {run}{tag} | `{Path(config).name}` | {r['steps']:,} x {r['batch']} | "
                     f"{r['seconds'] / 60:.1f} min |")
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
    replace_generated_blocks(readme, "inspatio_gym.train.ship", {k: "\n".join(v) for k, v in blocks.items()})


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() != dest.resolve():
        with atomic_path(dest, ".tmp") as tmp:
            shutil.copyfile(src, tmp)


def ship(runs: Path, results: Path | None, dest: Path = DEFAULT_CHECKPOINT, record_path: Path = RECORD,
         copy: bool = True, readme: Path | None = None, speed: Path | None = None,
         results128: Path | None = None, only128: bool = False) -> Path:
    """Copy the chain's last export to dest and the 128 px chain's, where it ran, beside it,
    with their sha256 manifest (SHA256SUMS, which the loader checks them against) (copy=False:
    only rewrite the card, e.g. after a new evaluation), and write their card and the
    training record. only128: ship the 128 px checkpoint alone (the 64 px one stays; its
    record too)."""
    dest128 = dest.with_name(SHIPPED_CHECKPOINTS[(128, 128)].name)
    if copy:
        src = runs / CHAIN[-1][0] / CHAIN[-1][2]
        src128 = runs / CHAIN128[-1][0] / CHAIN128[-1][2]
        if only128 and not src128.is_file():
            raise FileNotFoundError(f"nothing to ship: {src128} does not exist")
        if not only128:
            load_checkpoint(src)  # refuse to ship a broken file, before anything is copied
        if src128.is_file():
            cfg128 = load_checkpoint(src128)[0]
            if (cfg128.height, cfg128.width) != (128, 128):
                raise ValueError(f"{src128} makes {cfg128.width}x{cfg128.height} frames, not 128x128")
        if not only128:
            _copy(src, dest)
        if src128.is_file():
            _copy(src128, dest128)
        # the loader holds the package's checkpoints to this manifest: rewrite it with them
        write_manifest(dest.parent, [dest, dest128])
    previous = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if not copy and "runs128" in previous:
        record = previous  # a card rewrite: the record of what was shipped stands
    else:
        record = training_record(runs, previous, only128=only128 and copy)
    card = dest.with_name("MODEL_CARD.md")
    with atomic_path(card, ".tmp") as tmp:
        Path(tmp).write_text(model_card(dest, runs, results, record, dest128, results128))
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(record_path, ".tmp") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))
    if readme is not None:
        blocks = {"star-training": stage_table(record)}
        if results is not None and results.is_file():
            blocks["star-quality"] = quality_tables(json.loads(results.read_text()))
            if results128 is not None and results128.is_file() and dest128.is_file():
                blocks["star-quality"] += ["128x128 (`star_cpu128.safetensors`):", ""] + quality_tables(
                    json.loads(results128.read_text()))
        if speed is not None and speed.is_file():
            blocks["star-speed"] = speed_table(json.loads(speed.read_text()))
        update_readme(readme, blocks)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description="copy the distilled checkpoint into the package and write its model card")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--results", type=Path, default=Path("docs/results/star/results.json"))
    ap.add_argument("--results128", type=Path, default=Path("docs/results/star128/results.json"))
    ap.add_argument("--speed", type=Path, default=Path("docs/results/star/speed.json"),
                    help="benchmarks/bench_star.py --json output, for README's speed table")
    ap.add_argument("--readme", type=Path, default=Path("README.md"), help="README whose generated blocks to rewrite")
    ap.add_argument("--card-only", action="store_true", help="rewrite the card, record and README without copying")
    ap.add_argument("--only128", action="store_true",
                    help="ship the 128 px checkpoint alone, with its whole chain's record (the 64 px one stays)")
    args = ap.parse_args()
    dest = ship(args.runs, args.results, copy=not args.card_only, readme=args.readme, speed=args.speed,
                results128=args.results128, only128=args.only128)
    print(f"{'carded' if args.card_only else 'shipped'} {dest}")


if __name__ == "__main__":
    main()
