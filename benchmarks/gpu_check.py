"""Sessions batched on one device: the CUDA path checked against the CPU and measured.

One prepared run for a machine with a GPU (issue 17), and the same run on the CPU anywhere:

- correctness: the STAR generator's steps on the device against the same steps on the CPU
  (shipped weights, one world, the same seeds); backend="star" in an env on the device
  against the CPU env (the backend's own device plumbing); the warp's torch path on the
  device against the numba kernels on the CPU (the raw mesh warp and the finished view);
  each training stage (vae, teacher, causal, distill, refine; tiny configs) a few steps on
  the device with finite losses;
- speed: star frames/s and memory per session at batch 1, 16, 64, 256 at 64 and 128 px;
  the warp's torch path steps/s at 16 and 256 lanes beside the numba kernels on the CPU;
- a 2-process DDP training step over NCCL when the machine has two GPUs (gloo with --ddp
  on the CPU).

Each section records its error instead of stopping the run, so one broken path does not hide
the others. The figures go into --out (default docs/results/gpu/results.json), under the
device's kind, so a CPU run and a CUDA run sit side by side; --readme rewrites README's GPU
table from that file.

Run: python benchmarks/gpu_check.py --device cuda          (about 5 minutes on one GPU)
     python benchmarks/gpu_check.py --device cpu --quick   (the CPU-side check, ~1 minute)
     python benchmarks/gpu_check.py --readme               (README's table from the file)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from inspatio_gym.backends.star import resolve_device
from inspatio_gym.io.machine import cpu_name
from inspatio_gym.model.checkpoint import load_generator

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "gpu" / "results.json"
TRAIN_CONFIGS = ROOT / "configs" / "train"

#: What "equal" means across devices. Generator frames are compared as uint8 after N steps of
#: history feedback (TF32 convolutions and other reduction orders drift a little per step).
GEN_TOL = {"mean_levels": 0.5, "p999_levels": 8.0}
#: The warp: the fraction of pixels whose coverage or colour differs (near z-ties may flip).
WARP_TOL = {"mask_mismatch": 1e-3, "rgb_mismatch": 1e-3, "view_mean_levels": 0.5}


# ----------------------------------------------------------------------------------------------
# helpers


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _section(name: str, fn: Callable[[], Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Run one section; its error becomes part of the results instead of ending the run."""
    t0 = time.perf_counter()
    log(f"[{name}] ...")
    try:
        out = {"ok": True, **fn()}
    except Exception as e:  # noqa: BLE001 - the point is to record what breaks on a new device
        out = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=12)}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    log(f"[{name}] {'ok' if out['ok'] else 'FAILED: ' + out['error']} ({out['seconds']} s)")
    return out


def device_info(dev: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(dev), "torch": torch.__version__, "python": platform.python_version(),
                            "cpu_threads": torch.get_num_threads(), "host_cpus": os.cpu_count()}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info.update(name=torch.cuda.get_device_name(dev), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), memory_gib=round(p.total_memory / 2**30, 1),
                    capability=f"{p.major}.{p.minor}", device_count=torch.cuda.device_count(),
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_conv=torch.backends.cudnn.allow_tf32)
    else:
        info.update(name=cpu_name(), cuda=None)
    return info


def _condition(world, batch: int, seed: int = 0):
    """The warp's condition for `batch` lanes at moved poses: render, mask, fill on the CPU."""
    from inspatio_gym.eval.warp_accuracy import random_moves
    from inspatio_gym.render.condition import condition_from_view, condition_renderer, fill_from_view

    frames0, tgt = random_moves(world, batch, 0.15, 8.0, seed=seed)
    view = condition_renderer().render(world, tgt, frames0)
    render, mask = condition_from_view(view)
    return torch.from_numpy(frames0), render, mask, fill_from_view(view)


def _levels(x: torch.Tensor) -> torch.Tensor:
    return ((x.float().cpu() + 1.0) * 127.5).round().clamp(0, 255)


# ----------------------------------------------------------------------------------------------
# correctness


@torch.inference_mode()
def check_generator(dev: torch.device, steps: int, batch: int = 4) -> dict[str, Any]:
    """The shipped generator's frames on `dev` against the CPU's, step by step, same seeds."""
    from inspatio_gym.model.checkpoint import DEFAULT_CHECKPOINT
    from inspatio_gym.world import procedural_world

    gens = {"cpu": load_generator(DEFAULT_CHECKPOINT, "cpu"), "dev": load_generator(DEFAULT_CHECKPOINT, dev)}
    cfg = gens["cpu"].cfg
    world = procedural_world(seed=3, num_frames=24, width=cfg.width, height=cfg.height)
    frames0, render, mask, fill = _condition(world, batch)
    lanes = torch.arange(batch)
    outs: dict[str, list[torch.Tensor]] = {}
    for name, gen in gens.items():
        d = gen.device
        wc = gen.encode_reference(torch.from_numpy(world.frames))
        sessions = gen.new_sessions(batch)
        gen.reset_sessions(wc, sessions, lanes, frames0, torch.arange(batch) + 7)
        outs[name] = []
        for k in range(steps):
            out = gen.step(wc, sessions, lanes, (frames0 + k) % world.num_frames, render.to(d), mask.to(d),
                           fill=None if gen.refiner is None else fill.to(d))
            outs[name].append(_levels(out))
    per_step = []
    for a, b in zip(outs["cpu"], outs["dev"]):
        diff = (a - b).abs().flatten()
        per_step.append({"mean_levels": float(diff.mean()), "p999_levels": float(torch.quantile(diff, 0.999)),
                         "max_levels": float(diff.max())})
    last = per_step[-1]
    ok = last["mean_levels"] <= GEN_TOL["mean_levels"] and last["p999_levels"] <= GEN_TOL["p999_levels"]
    return {"pass": bool(ok), "tolerance": GEN_TOL, "batch": batch, "steps": steps, "last": last, "per_step": per_step}


def check_env(dev: torch.device, steps: int) -> dict[str, Any]:
    """backend="star" in a WorldEnv on `dev` against the CPU env: same seed, same actions."""
    import gymnasium as gym

    import inspatio_gym  # noqa: F401 - registers the ids

    obs: dict[str, list[np.ndarray]] = {}
    for name, d in (("cpu", "cpu"), ("dev", str(dev)), ("dev_again", str(dev))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make("InspatioWorld-v0", backend="star", backend_options={"device": d}, width=64, height=64)
        try:
            o, _ = env.reset(seed=11)
            env.action_space.seed(5)
            seq = [o["rgb"] if isinstance(o, dict) else o]
            for _ in range(steps):
                o, *_ = env.step(env.action_space.sample())
                seq.append(o["rgb"] if isinstance(o, dict) else o)
            obs[name] = seq
        finally:
            env.close()
    diff = np.abs(np.stack(obs["cpu"]).astype(np.float32) - np.stack(obs["dev"]).astype(np.float32))
    deterministic = all(np.array_equal(a, b) for a, b in zip(obs["dev"], obs["dev_again"]))
    mean, p999 = float(diff.mean()), float(np.quantile(diff, 0.999))
    ok = deterministic and mean <= GEN_TOL["mean_levels"] and p999 <= GEN_TOL["p999_levels"]
    return {"pass": bool(ok), "tolerance": GEN_TOL, "steps": steps, "mean_levels": mean, "p999_levels": p999,
            "max_levels": float(diff.max()), "deterministic_on_device": deterministic}


def check_warp(dev: torch.device, lanes: int = 8) -> dict[str, Any]:
    """The warp's torch path on `dev` against the numba kernels on the CPU."""
    from inspatio_gym.eval.warp_accuracy import random_moves
    from inspatio_gym.geometry.mesh import MESH_DEFAULTS, mesh_warp_numba, mesh_warp_torch
    from inspatio_gym.geometry.view import warp_view
    from inspatio_gym.world import procedural_world

    w = procedural_world(seed=2, num_frames=24, width=96, height=64)
    start, tgt = random_moves(w, lanes, 0.3, 12.0, seed=1)
    idx = np.clip(start[:, None] + np.array([0, -4, 4]), 0, w.num_frames - 1)
    t = torch.from_numpy
    cpu_args = (t(w.frames[idx]), t(w.depth[idx]), t(w.K), t(w.c2w[idx]), t(tgt), None, w.scale)
    dev_args = tuple(a.to(dev) if isinstance(a, torch.Tensor) else a for a in cpu_args)
    a, b = mesh_warp_numba(*cpu_args, **MESH_DEFAULTS), mesh_warp_torch(*dev_args, **MESH_DEFAULTS)
    bm, brgb = b.mask.cpu(), b.rgb.cpu()
    both = a.mask & bm
    mask_mismatch = float((a.mask != bm).float().mean())
    rgb_mismatch = float(((a.rgb - brgb).abs().amax(-1)[both] > 1e-4).float().mean())
    va = warp_view(t(w.frames), t(w.depth), t(w.K), t(w.c2w), idx, t(tgt), depth_unit=w.scale)
    vb = warp_view(t(w.frames).to(dev), t(w.depth).to(dev), t(w.K).to(dev), t(w.c2w).to(dev), idx, t(tgt).to(dev),
                   depth_unit=w.scale)
    rgb_b = vb.rgb.cpu().numpy() if isinstance(vb.rgb, torch.Tensor) else vb.rgb
    view_mean = float(np.abs(np.asarray(va.rgb, np.float32) - np.asarray(rgb_b, np.float32)).mean())
    ok = (mask_mismatch <= WARP_TOL["mask_mismatch"] and rgb_mismatch <= WARP_TOL["rgb_mismatch"]
          and view_mean <= WARP_TOL["view_mean_levels"])
    return {"pass": bool(ok), "tolerance": WARP_TOL, "lanes": lanes, "mask_mismatch": mask_mismatch,
            "rgb_mismatch": rgb_mismatch, "view_mean_levels": view_mean, "covered": float(a.mask.float().mean())}


def check_training(dev: torch.device) -> dict[str, Any]:
    """Each stage of the chain, tiny config, a few steps on `dev`: finite losses, an export."""
    from inspatio_gym.train import load_run_config, make_stage, train

    stages: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_check_train_") as tmp:
        root = Path(tmp)

        def run(name: str, toml: str, **kw: Any) -> None:
            cfg = replace(load_run_config(TRAIN_CONFIGS / f"{toml}_tiny.toml"), out=str(root / name), **kw)
            t0 = time.perf_counter()
            s = train(make_stage(cfg, str(dev.type)), cfg, cfg.out, device=str(dev.type), progress=False)
            finite = all(np.isfinite(v) for v in s["last"].values())
            stages[name] = {"steps": s["steps"], "finite": bool(finite), "seconds": round(time.perf_counter() - t0, 2),
                            "device": s.get("device"), "last": {k: float(v) for k, v in s["last"].items()}}

        run("vae", "vae")
        vae = str(root / "vae" / "vae.safetensors")
        run("teacher", "teacher", vae=vae)
        teacher = str(root / "teacher" / "teacher.safetensors")
        run("causal", "causal", vae=vae, teacher_synthetic=teacher, init=teacher)
        run("distill", "distill", vae=vae, init=str(root / "causal" / "star.safetensors"),
            teacher_synthetic=teacher, teacher_real=teacher)
        run("refine", "refine", init=str(root / "distill" / "star.safetensors"))
    ok = all(s["finite"] and s["device"] is not None and s["device"].startswith(dev.type) for s in stages.values())
    return {"pass": bool(ok), "stages": stages}


def check_ddp(dev: torch.device) -> dict[str, Any]:
    """The unchanged training command on 2 processes: NCCL on 2 GPUs, gloo on the CPU."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="gpu_check_ddp_") as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "INSPATIO_GYM_DIST_TIMEOUT": "120"}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
               "-m", "inspatio_gym.cli", "train", "--config", str(TRAIN_CONFIGS / "vae_tiny.toml"), "--out", tmp,
               "--device", dev.type, "--quiet"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        summary = Path(tmp) / "summary.json"
        s = json.loads(summary.read_text()) if summary.is_file() else {}
    return {"pass": p.returncode == 0 and bool(s), "backend": "nccl" if dev.type == "cuda" else "gloo",
            "returncode": p.returncode, "steps": s.get("steps"), "seconds": round(time.perf_counter() - t0, 2),
            "stderr_tail": p.stderr[-1500:] if p.returncode else ""}


# ----------------------------------------------------------------------------------------------
# speed


@torch.inference_mode()
def speed_star(dev: torch.device, sizes: list[int], batches: list[int], steps: int) -> dict[str, Any]:
    """Generator steps alone (the warp's condition prepared beforehand): frames/s, memory."""
    from inspatio_gym.model.checkpoint import shipped_checkpoint
    from inspatio_gym.world import procedural_world

    rows = []
    for size in sizes:
        ckpt = shipped_checkpoint(size, size)
        if ckpt is None:
            rows.append({"size": size, "error": f"no shipped checkpoint for {size}x{size}"})
            continue
        gen = load_generator(ckpt, dev)
        world = procedural_world(seed=0, num_frames=48, width=size, height=size)
        wc = gen.encode_reference(torch.from_numpy(world.frames))
        for batch in batches:
            row: dict[str, Any] = {"size": size, "batch": batch}
            try:
                frames0, render, mask, fill = _condition(world, batch)
                render, mask = render.to(dev), mask.to(dev)
                fill = None if gen.refiner is None else fill.to(dev)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                    base = torch.cuda.memory_allocated(dev)
                    torch.cuda.reset_peak_memory_stats(dev)
                sessions = gen.new_sessions(batch)
                lanes = torch.arange(batch)
                gen.reset_sessions(wc, sessions, lanes, frames0, lanes)
                times = []
                for k in range(steps + 2):
                    _sync(dev)
                    t0 = time.perf_counter()
                    gen.step(wc, sessions, lanes, (frames0 + k) % world.num_frames, render, mask, fill=fill)
                    _sync(dev)
                    if k >= 2:  # two warm-up steps (allocator, cuDNN autotune)
                        times.append(time.perf_counter() - t0)
                dt = statistics.median(times)
                row.update(fps=batch / dt, ms_per_step=1000 * dt, state_mb_per_session=sessions.nbytes_per_lane() / 2**20,
                           world_cache_mb=wc.nbytes() / 2**20)
                if dev.type == "cuda":
                    row["peak_mb_per_session"] = (torch.cuda.max_memory_allocated(dev) - base) / batch / 2**20
                del sessions
            except torch.cuda.OutOfMemoryError as e:  # type: ignore[attr-defined]
                row["error"] = f"out of memory: {e}"[:300]
            rows.append(row)
        del gen, wc
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return {"rows": rows, "steps": steps}


@torch.inference_mode()
def speed_warp(dev: torch.device, lanes_list: list[int], steps: int, size: int = 64) -> dict[str, Any]:
    """warp_view steps/s: the torch path on `dev`, and the numba kernels on this host's CPU."""
    from inspatio_gym.eval.warp_accuracy import random_moves
    from inspatio_gym.geometry.mesh import MESH_DEFAULTS, mesh_warp_torch
    from inspatio_gym.geometry.view import finish_splat_torch, warp_view
    from inspatio_gym.world import procedural_world

    w = procedural_world(seed=0, num_frames=48, width=size, height=size)
    t = torch.from_numpy
    host = (t(w.frames), t(w.depth), t(w.K), t(w.c2w))
    on_dev = tuple(x.to(dev) for x in host)
    rows = []
    for lanes in lanes_list:
        start, tgt = random_moves(w, lanes, 0.15, 8.0, seed=lanes)
        idx = np.clip(start[:, None] + np.array([0, -4, 4]), 0, w.num_frames - 1)
        row: dict[str, Any] = {"lanes": lanes, "size": size}
        for name, args, tg in (("torch", on_dev, t(tgt).to(dev)), ("numba_cpu", host, t(tgt))):
            times = []
            for k in range(steps + 2):
                _sync(dev)
                t0 = time.perf_counter()
                if name == "torch":  # the reference path, whatever the device (warp_view's path off the CPU)
                    i = t(idx).to(args[0].device)
                    res = mesh_warp_torch(args[0][i], args[1][i], args[2], args[3][i], tg, None, depth_unit=w.scale,
                                          **MESH_DEFAULTS)
                    finish_splat_torch(res, True, cracks=False)
                else:
                    warp_view(*args, idx, tg, depth_unit=w.scale)
                _sync(dev)
                if k >= 2:
                    times.append(time.perf_counter() - t0)
            row[f"{name}_steps_per_s"] = lanes / statistics.median(times)
        row["ratio_torch_to_numba"] = row["torch_steps_per_s"] / row["numba_cpu_steps_per_s"]
        rows.append(row)
    return {"rows": rows, "steps": steps}


# ----------------------------------------------------------------------------------------------
# the run, the file, the README table


def run_checks(dev: torch.device, quick: bool, ddp: bool | None, log: Callable[[str], None] = print) -> dict[str, Any]:
    sizes = [64] if quick else [64, 128]
    batches = [1, 2] if quick else [1, 16, 64, 256]
    lanes = [4, 16] if quick else [16, 256]
    steps = 2 if quick else 10
    res: dict[str, Any] = {"info": device_info(dev), "quick": quick,
                           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    res["generator"] = _section("generator on the device vs the CPU", lambda: check_generator(dev, 3 if quick else 8), log)
    res["env"] = _section("backend=star env on the device vs the CPU", lambda: check_env(dev, 3 if quick else 8), log)
    res["warp"] = _section("warp torch path vs numba", lambda: check_warp(dev), log)
    res["training"] = _section("training stages on the device", lambda: check_training(dev), log)
    two_gpus = dev.type == "cuda" and torch.cuda.device_count() >= 2
    if ddp if ddp is not None else two_gpus:
        res["ddp"] = _section("2-process DDP", lambda: check_ddp(dev), log)
    else:
        res["ddp"] = {"ok": True, "ran": False,
                      "why": (f"{torch.cuda.device_count()} CUDA device(s); NCCL DDP needs 2" if dev.type == "cuda"
                              else "not asked (--ddp runs it with gloo on the CPU)")}
    res["star_speed"] = _section("star frames/s and memory per session", lambda: speed_star(dev, sizes, batches, steps), log)
    res["warp_speed"] = _section("warp steps/s", lambda: speed_warp(dev, lanes, steps), log)
    return res


def save(res: dict[str, Any], out: Path) -> None:
    """Merge this device kind's results into the file, written atomically."""
    from inspatio_gym.io.atomic import atomic_path

    old = json.loads(out.read_text()) if out.is_file() else {}
    old[res["info"]["device"].split(":")[0]] = res
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, ".json") as tmp:
        Path(tmp).write_text(json.dumps(old, indent=1))


def _verdict(sec: dict[str, Any]) -> str:
    if not sec.get("ok", False):
        return "error: " + sec.get("error", "?")[:60]
    if sec.get("ran") is False:
        return "not run: " + sec["why"]
    return "pass" if sec.get("pass") else "FAIL"


def table(results: dict[str, Any]) -> str:
    """README's GPU table: one column per device kind in the file."""
    kinds = [k for k in ("cuda", "cpu") if k in results]
    if not kinds:
        return "_No results yet: run `python benchmarks/gpu_check.py --device cuda`._"
    head = "| | " + " | ".join(f"{k}: {results[k]['info']['name']}" for k in kinds) + " |"
    lines = [head, "|---" * (len(kinds) + 1) + "|"]

    def row(label: str, f: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for k in kinds:
            try:
                cells.append(f(results[k]))
            except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError):
                cells.append("–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("torch / CUDA", lambda r: f"{r['info']['torch']} / {r['info']['cuda'] or '–'}")
    row("generator vs CPU (uint8 levels, mean / p99.9)",
        lambda r: f"{_verdict(r['generator'])}: {r['generator']['last']['mean_levels']:.3f} / "
                  f"{r['generator']['last']['p999_levels']:.1f}")
    row("star env vs CPU env", lambda r: f"{_verdict(r['env'])}: {r['env']['mean_levels']:.3f} / "
                                         f"{r['env']['p999_levels']:.1f}")
    row("warp torch vs numba (mask / colour mismatch)",
        lambda r: f"{_verdict(r['warp'])}: {r['warp']['mask_mismatch']:.1e} / {r['warp']['rgb_mismatch']:.1e}")
    row("training stages", lambda r: _verdict(r["training"]) + " (" + ", ".join(
        f"{n} {s['seconds']:.1f} s" for n, s in r["training"]["stages"].items()) + ")")
    row("2-process DDP", lambda r: _verdict(r["ddp"]))
    all_rows = [x for k in kinds for x in results[k]["star_speed"].get("rows", [])]
    for size in sorted({x["size"] for x in all_rows}):
        for batch in sorted({x["batch"] for x in all_rows if x["size"] == size and "batch" in x}):
            def cell(r: dict[str, Any], size: int = size, batch: int = batch) -> str:
                x = next(x for x in r["star_speed"]["rows"] if x["size"] == size and x.get("batch") == batch)
                if "error" in x:
                    return x["error"][:40]
                mem = x.get("peak_mb_per_session", x["state_mb_per_session"])
                return f"{x['fps']:,.0f} frames/s, {mem:.2f} MB/session"
            row(f"star {size} px, batch {batch}", cell)
    warp_rows = [x for k in kinds for x in results[k]["warp_speed"].get("rows", [])]
    for lanes in sorted({x["lanes"] for x in warp_rows}):
        def wcell(r: dict[str, Any], lanes: int = lanes) -> str:
            x = next(x for x in r["warp_speed"]["rows"] if x["lanes"] == lanes)
            return (f"torch {x['torch_steps_per_s']:,.0f} steps/s, numba on the host CPU "
                    f"{x['numba_cpu_steps_per_s']:,.0f} ({x['ratio_torch_to_numba']:.2f}x)")
        row(f"warp 64 px, {lanes} lanes", wcell)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or auto (omit with --readme to only rewrite the table)")
    p.add_argument("--quick", action="store_true", help="small batches and sizes (the CPU-side check)")
    p.add_argument("--ddp", action=argparse.BooleanOptionalAction, default=None,
                   help="run the 2-process DDP step (default: on CUDA with 2 GPUs)")
    p.add_argument("--out", type=Path, default=OUT, help="results file (merged by device kind)")
    p.add_argument("--readme", nargs="?", const=ROOT / "README.md", type=Path, default=None,
                   help="rewrite README's generated GPU table from --out")
    args = p.parse_args(argv)
    if args.device is not None:
        try:
            dev = resolve_device(args.device)
        except ValueError as e:
            p.error(f"--device: {e} (torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        if dev.type not in ("cpu", "cuda"):
            p.error(f"unknown device {args.device!r}; expected cpu, cuda or cuda:N")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda:0")
        res = run_checks(dev, args.quick, args.ddp, log=lambda s: print(s, flush=True))
        save(res, args.out)
        print(f"wrote {args.out}")
    elif args.readme is None:
        p.error("nothing to do: give --device (run the checks) and/or --readme (rewrite the table)")
    if args.readme is not None:
        from inspatio_gym.io.atomic import replace_generated_blocks

        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        replace_generated_blocks(args.readme, "benchmarks/gpu_check.py", {"gpu": table(results)})
        print(f"rewrote the GPU table in {args.readme}")
    if args.device is not None:
        print(table(json.loads(args.out.read_text())))
        failed = [k for k in ("generator", "env", "warp", "training", "ddp", "star_speed", "warp_speed")
                  if not res[k].get("ok") or res[k].get("pass") is False]
        if failed:
            print("failed: " + ", ".join(failed))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
