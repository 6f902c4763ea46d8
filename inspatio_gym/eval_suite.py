"""The evaluation suite behind `inspatio-gym eval`: every backend scored the way the field reports.

For each backend, on the same worlds and the same actions:

1. Novel views against the truth. Held-out procedural worlds: a seeded random walk under the
   env's own control, each view scored against the scene rendered exactly at that camera
   (full frame, and in the warp's holes: the same pixels for every backend). Held-out real
   multi-view scenes: time frozen at frame i, the camera at frame i + gap's pose, scored
   against that real frame (eval.novel_views).
2. Camera control (eval.camera_control): a scripted 150-frame orbit replayed with explicit
   poses, the views re-estimated by COLMAP and compared with the poses asked for (RotErr,
   TransErr, CamMC). The truth's own frames go through the same COLMAP run: the protocol's
   floor. A backend whose frames do not register is scored by the truth comparison along
   the orbit instead (its PSNR against the exact render), and says so.
3. Consistency (eval.consistency): DIS flow cycle error along the walk, loop closure of an
   out-and-back walk (begun off the source camera, whose view is the reference frame itself;
   100 dB stands for identical views), flicker at a fixed pose with the time frozen.
4. Speed: steps/s of one env per backend, at the walk's size and at 128 px.

The caller passes the held-out seeds and scenes (the training pipeline owns those lists).
It sits above the envs (it walks worlds under the env's own control) and uses eval's metrics.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from .geometry.camera import scale_intrinsics
from .eval.camera_control import camera_errors, reestimate_poses
from .eval.consistency import flicker, flow_cycle_epe, loop_psnr
from .eval.metrics import masked_psnr, psnr, ssim
from .world.reference import ReferenceWorld

__all__ = ["ORIGINAL", "RESULT_KEYS", "SuiteConfig", "report_markdown", "run_suite", "write_report"]

#: The original's RealEstate10K camera-control figures (150 frames), for the report.
ORIGINAL = {"roterr": 2.876, "transerr": 20.139}
#: The per-backend keys of results.json that scripts read.
RESULT_KEYS = ("psnr", "ssim", "psnr_holes", "roterr", "transerr", "cammc", "rot_deg_mean", "flow_cycle_epe",
               "loop_psnr", "flicker", "steps_per_s")
TRAJECTORIES = Path(__file__).resolve().parent / "data" / "trajectories"
#: Discrete actions and their inverses (control.actions): forward/backward, strafes, turns, looks.
INVERSE = {0: 0, 1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 5, 7: 8, 8: 7}


@dataclass
class SuiteConfig:
    backends: tuple[str, ...] = ("warp", "star")
    seeds: tuple[int, ...] = ()  # held-out procedural worlds
    scenes: tuple[Path, ...] = ()  # held-out real multi-view scene folders
    walk_steps: int = 64
    size: int = 64
    gaps: tuple[int, ...] = (2, 3)
    scene_stride: int = 1
    trajectories: tuple[str, ...] = ("x_y_circle_cycle",)
    traj_frames: int = 150
    traj_size: int = 256
    video: str | None = None  # a user's video instead of procedural worlds (no exact truth: novel views only)
    threads: int = 1  # COLMAP's
    extra: dict[str, Any] = field(default_factory=dict)


# -- worlds and walks -----------------------------------------------------------------------------

def _env(world: Any, backend: str, size: int, time_mode: str = "loop"):
    from .envs.world_env import WorldEnv

    return WorldEnv(world=world, backend=backend, width=size, height=size, time_mode=time_mode)


def _walk(world: ReferenceWorld, backend: str, actions: np.ndarray, seed: int, size: int) -> dict[str, Any]:
    env = _env(world, backend, size)
    obs, info = env.reset(seed=seed)
    frames, poses, times, masks, dts = [obs], [info["pose"]], [info["frame"]], [], []
    mask0 = env.unwrapped._last.view.mask[0].copy()
    masks.append(mask0)
    for a in actions:
        t0 = time.perf_counter()
        obs, _, _, _, info = env.step(int(a))
        dts.append(time.perf_counter() - t0)
        frames.append(obs)
        poses.append(info["pose"])
        times.append(info["frame"])
        masks.append(env.unwrapped._last.view.mask[0].copy())
    env.close()
    return {"rgb": np.stack(frames), "c2w": np.stack(poses), "t": np.array(times), "covered": np.stack(masks),
            "step_s": float(np.median(dts[5:] if len(dts) > 10 else dts))}


def _truth(world: ReferenceWorld, c2w: np.ndarray, t: np.ndarray, size: int) -> np.ndarray:
    import torch

    scene = world.meta["scene"]
    K = scale_intrinsics(world.K, size / world.width, size / world.height)
    rgb, _ = scene.render(torch.from_numpy(c2w), torch.from_numpy(K), size, size,
                          torch.from_numpy(t.astype(np.float32) / world.fps), 2)
    return (rgb.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def _scores(pred: np.ndarray, gt: np.ndarray, holes: np.ndarray) -> dict[str, float]:
    """Pooled over the walk (one MSE over every pixel of every view: a view that equals the
    truth, e.g. at the source camera, has an infinite PSNR of its own) and in the holes."""
    return {"psnr": masked_psnr(pred, gt, np.ones(gt.shape[:3], bool)),
            "ssim": float(np.mean([ssim(p, g) for p, g in zip(pred, gt)])),
            "psnr_holes": masked_psnr(pred, gt, holes) if holes.any() else float("nan"),  # pooled over the walk
            "hole_fraction": float(holes.mean())}


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys()
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


# -- the parts --------------------------------------------------------------------------------------

def procedural_part(cfg: SuiteConfig, sheets: dict[str, np.ndarray]) -> dict[str, dict]:
    """Random walks on the held-out worlds, scored against the exact render."""
    from .world import procedural_world

    per: dict[str, list] = {b: [] for b in cfg.backends}
    flows: dict[str, list] = {b: [] for b in cfg.backends}
    speed: dict[str, list] = {b: [] for b in cfg.backends}
    for seed in tqdm(cfg.seeds, desc="held-out procedural worlds", unit="world"):
        world = procedural_world(seed=seed, num_frames=48, width=cfg.size, height=cfg.size)
        actions = np.random.default_rng(seed).integers(0, 9, cfg.walk_steps)
        walks = {b: _walk(world, b, actions, seed, cfg.size) for b in cfg.backends}
        ref = walks[cfg.backends[0]]
        for b, w in walks.items():
            if not np.allclose(w["c2w"], ref["c2w"]):
                raise AssertionError(f"backend {b} took other poses than {cfg.backends[0]} on world {seed}")
        gt = _truth(world, ref["c2w"], ref["t"], cfg.size)
        holes = ~walks["warp"]["covered"] if "warp" in walks else np.zeros(gt.shape[:3], bool)
        for b, w in walks.items():
            per[b].append(_scores(w["rgb"], gt, holes))
            flows[b].append(flow_cycle_epe(list(w["rgb"])))
            speed[b].append(1.0 / w["step_s"])
        if seed == cfg.seeds[0]:
            sheets["procedural"] = _sheet({"truth": gt, **{b: w["rgb"] for b, w in walks.items()}},
                                          f"held-out world {seed}: random walk", walks[cfg.backends[0]])
    return {b: {**_mean(per[b]), "flow_cycle_epe": float(np.mean(flows[b])),
                "steps_per_s_walk": float(np.median(speed[b])), "worlds": len(per[b])} for b in cfg.backends}


def real_part(cfg: SuiteConfig) -> dict[str, dict]:
    """Novel views of the held-out real multi-view scenes (or the user's video: its own frames
    and estimated poses are the truth), pooled over scenes."""
    from .backends import make_backend
    from .world.registry import get_world
    from .world.sources.multiview import multiview_world
    from .eval.novel_views import NovelViews, novel_views

    parts, names = [], []
    sources = [("video", cfg.video)] if cfg.video else [("scene", f) for f in cfg.scenes]
    for kind, src in tqdm(sources, desc="real scenes", unit="scene"):
        world = multiview_world(src, width=cfg.size, height=cfg.size) if kind == "scene" else \
            get_world(src, cfg.size, cfg.size)
        methods = {b: (lambda b=b: make_backend(b)) for b in cfg.backends}
        parts.append(novel_views(methods, world, cfg.gaps, cfg.scene_stride))
        names.append(Path(str(src)).name)
    if not parts:
        return {}
    pooled = NovelViews.concat(parts).scores()
    return {b: {k: pooled[b]["pooled"][k] for k in ("psnr", "ssim", "psnr_holes", "views")} | {"scenes": names}
            for b in cfg.backends}


def camera_part(cfg: SuiteConfig, sheets: dict[str, np.ndarray]) -> dict[str, Any]:
    """The RealEstate10K camera-control protocol along scripted orbits (and the truth's floor)."""
    from .geometry.trajectory import load_trajectory, trajectory_poses
    from .recon.sfm import SfmError
    from .world import procedural_world

    sizes = sorted({cfg.traj_size if b == "warp" else min(cfg.traj_size, 128) for b in cfg.backends} - {cfg.traj_size})
    truths = ["truth"] + [f"truth {s}px" for s in sizes]  # the protocol's floor at each size scored
    out: dict[str, Any] = {b: [] for b in (*cfg.backends, *truths)}
    for name in cfg.trajectories:
        world = procedural_world(seed=cfg.seeds[0] if cfg.seeds else 0, num_frames=cfg.traj_frames,
                                 width=cfg.traj_size, height=cfg.traj_size)
        poses = trajectory_poses(load_trajectory(TRAJECTORIES / f"{name}.txt"), world.c2w)
        t = np.arange(len(poses))
        gt = _truth(world, poses, t, cfg.traj_size)
        runs = {"truth": (gt, cfg.traj_size)}
        runs.update({f"truth {s}px": (_truth(world, poses, t, s), s) for s in sizes})
        for b in cfg.backends:
            size = cfg.traj_size if b == "warp" else min(cfg.traj_size, 128)  # star ships 64 and 128 px
            sized = world if size == cfg.traj_size else procedural_world(
                seed=cfg.seeds[0] if cfg.seeds else 0, num_frames=cfg.traj_frames, width=size, height=size)
            env = _env(sized, b, size, time_mode="play")
            obs, _ = env.reset(seed=0)
            frames = [obs]
            for p in tqdm(poses[1:], desc=f"{b} along {name}", unit="frame", leave=False):
                frames.append(env.step_pose(p)[0])
            env.close()
            runs[b] = (np.stack(frames), size)
        for b, (frames, size) in tqdm(runs.items(), desc=f"COLMAP on the views of {name}", unit="run"):
            K = scale_intrinsics(world.K, size / world.width, size / world.height)
            row: dict[str, Any] = {"trajectory": name, "size": size, "frames": len(frames)}
            truth_small = gt if size == cfg.traj_size else _truth(world, poses, t, size)
            row["psnr_vs_truth"] = float(np.mean([psnr(a, g) for a, g in zip(frames, truth_small)]))
            try:
                ids, est = reestimate_poses(frames, K, threads=cfg.threads)
                if ids[0] != 0:
                    raise SfmError(f"frame 0 did not register ({len(ids)} of {len(frames)} did)")
                row.update(camera_errors(poses, est, ids).as_dict())
            except SfmError as e:
                row.update({"registered": 0, "sfm_error": str(e),
                            "note": f"{b}'s {size} px frames do not register: scored by the truth comparison"})
            out[b].append(row)
        sheets[f"camera_{name}"] = _sheet({b: f for b, (f, _) in runs.items()}, f"orbit {name} (explicit poses)")
    return out


def consistency_part(cfg: SuiteConfig, world: ReferenceWorld) -> dict[str, dict]:
    """Loop closure (out and back along the same actions) and flicker (one pose, frozen time)."""
    away = [3, 3, 5, 2]  # first off the source camera (whose view is the reference frame itself)
    out = [1, 1, 5, 5, 3, 1, 6, 1]  # forward x2, turn left x2, strafe left, forward, turn right, forward
    back = [INVERSE[a] for a in reversed(out)]
    res = {}
    for b in cfg.backends:
        env = _env(world, b, cfg.size, time_mode="freeze")
        env.reset(seed=0)
        for a in away:
            first, *_ = env.step(a)
        for a in out + back:
            last, *_ = env.step(a)
        env.reset(seed=1)
        for a in away:
            still, *_ = env.step(a)
        views = [still] + [env.step(0)[0] for _ in range(12)]  # noop at one pose, time frozen
        env.close()
        res[b] = {"loop_psnr": min(loop_psnr(first, last), 100.0), "flicker": flicker(views)}
    return res


def speed_part(cfg: SuiteConfig, world_seed: int) -> dict[str, dict]:
    from .world import procedural_world

    res: dict[str, dict] = {}
    for b in cfg.backends:
        res[b] = {}
        for size in sorted({cfg.size, 128}):
            env = _env(procedural_world(seed=world_seed, num_frames=48, width=size, height=size), b, size)
            env.reset(seed=0)
            for k in range(10):
                env.step(k % 9)
            t0 = time.perf_counter()
            n = 60
            for k in range(n):
                env.step(k % 9)
            res[b][f"{size}px"] = round(n / (time.perf_counter() - t0), 1)
            env.close()
    return res


def _sheet(rows: dict[str, np.ndarray], title: str, walk: dict | None = None, tiles: int = 8) -> np.ndarray:
    """Rows truth | warp | star, the same steps in each, labelled."""
    from .io.media import contact_sheet, stack_sheets

    n = len(next(iter(rows.values())))
    idx = np.unique(np.linspace(0, n - 1, tiles).round().astype(int))
    side = max(128, *(f.shape[2] for f in rows.values()))  # every row's tiles shown at one size
    sheets = []
    for name, frames in rows.items():
        labels = [[f"{name} step {k}"] for k in idx]
        sheets.append(contact_sheet([frames[k] for k in idx], columns=tiles, max_tiles=tiles, labels=labels,
                                    upscale=max(1, side // frames.shape[2]),
                                    title=title if not sheets else None))
    return stack_sheets(sheets)


# -- the whole suite --------------------------------------------------------------------------------

def run_suite(cfg: SuiteConfig) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(results, contact sheets by name). results["backends"][b] has RESULT_KEYS."""
    from .world import procedural_world

    t0 = time.perf_counter()
    sheets: dict[str, np.ndarray] = {}
    res: dict[str, Any] = {"config": {k: (list(map(str, v)) if isinstance(v, tuple) else v)
                                      for k, v in asdict(cfg).items()}, "original_realestate10k": ORIGINAL}
    if not cfg.seeds:
        raise ValueError("give held-out procedural seeds (speed and, without a video, every part run on them)")
    res["procedural"] = procedural_part(cfg, sheets) if cfg.seeds and cfg.video is None else {}
    res["real"] = real_part(cfg) if cfg.scenes or cfg.video else {}
    res["camera"] = camera_part(cfg, sheets) if cfg.video is None else {}
    if cfg.video is not None:  # the user's world: its consistency, not a procedural one's
        from .world.registry import get_world

        world = get_world(cfg.video, cfg.size, cfg.size)
    else:
        world = procedural_world(seed=cfg.seeds[0], num_frames=48, width=cfg.size, height=cfg.size)
    res["consistency"] = consistency_part(cfg, world)
    res["speed"] = speed_part(cfg, cfg.seeds[0] if cfg.seeds else 0)
    res["backends"] = {b: _headline(res, b) for b in cfg.backends}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res, sheets


def _headline(res: dict[str, Any], b: str) -> dict[str, float]:
    """The keys a script reads, for backend b: novel views on procedural worlds (or the real
    scenes without them), camera control averaged over the trajectories that registered."""
    nan = float("nan")
    views = res["procedural"].get(b) or res["real"].get(b) or {}
    cam = [r for r in res["camera"].get(b, []) if r.get("registered")]
    out = {"psnr": views.get("psnr", nan), "ssim": views.get("ssim", nan), "psnr_holes": views.get("psnr_holes", nan)}
    for k in ("roterr", "transerr", "cammc", "rot_deg_mean"):
        out[k] = float(np.mean([r[k] for r in cam])) if cam else nan
    out["flow_cycle_epe"] = res["procedural"].get(b, {}).get("flow_cycle_epe", nan)
    out["loop_psnr"] = res["consistency"].get(b, {}).get("loop_psnr", nan)
    out["flicker"] = res["consistency"].get(b, {}).get("flicker", nan)
    sp = res["speed"].get(b, {})
    out["steps_per_s"] = next(iter(sp.values()), nan)
    return out


def json_safe(x: Any) -> Any:
    """NaN and inf as null/strings, numpy scalars as numbers: strict JSON."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else round(float(x), 4)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_results(res: dict[str, Any], out: Path) -> Path:
    from .io.atomic import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    with atomic_path(path, ".json") as tmp:
        Path(tmp).write_text(json.dumps(json_safe(res), indent=1))
    return path


NAMES = {"psnr": "PSNR", "ssim": "SSIM", "psnr_holes": "PSNR in warp holes", "roterr": "RotErr (rad)",
         "transerr": "TransErr", "cammc": "CamMC", "rot_deg_mean": "rot. err. mean (deg)",
         "flow_cycle_epe": "flow cycle error (px)", "loop_psnr": "loop closure PSNR", "flicker": "flicker (grey levels)",
         "steps_per_s": "steps/s"}


def _f(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def report_markdown(res: dict[str, Any]) -> str:
    """REPORT.md: the headline table, then each part's own."""
    b = res["backends"]
    names = list(b)
    lines = ["# inspatio-gym eval", "", f"{res['seconds']:.0f} s; config: `{json.dumps(res['config'])}`", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in RESULT_KEYS:
        lines.append(f"| {NAMES[k]} | " + " | ".join(_f(b[n][k], ".2f" if k == "steps_per_s" else ".3f") for n in names) + " |")
    if res["camera"]:
        lines += ["", "## Camera control (RealEstate10K protocol: COLMAP on the views, 150 frames)", "",
                  f"The original on RealEstate10K: RotErr {ORIGINAL['roterr']}, TransErr {ORIGINAL['transerr']}.", "",
                  "| frames from | trajectory | size | registered | RotErr | TransErr | CamMC | rot. mean (deg) | PSNR vs truth |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for who, rows in res["camera"].items():
            for r in rows:
                lines.append(f"| {who} | {r['trajectory']} | {r['size']} | {r.get('registered', 0)}/{r['frames']} | "
                             f"{_f(r.get('roterr'))} | {_f(r.get('transerr'))} | {_f(r.get('cammc'))} | "
                             f"{_f(r.get('rot_deg_mean'))} | {_f(r['psnr_vs_truth'], '.2f')} |")
                if r.get("note"):
                    lines.append(f"|  | {r['note']} | | | | | | | |")
    for part, title in (("procedural", "Held-out procedural worlds (random walks, exact truth)"),
                        ("real", "Held-out real multi-view scenes (novel views)")):
        if res[part]:
            lines += ["", f"## {title}", "", "| backend | PSNR | SSIM | PSNR in warp holes |", "|---|---|---|---|"]
            for n, r in res[part].items():
                lines.append(f"| {n} | {_f(r['psnr'], '.2f')} | {_f(r['ssim'])} | {_f(r['psnr_holes'], '.2f')} |")
    if res["speed"]:
        lines += ["", "## Speed (one env, steps/s)", "", "| backend | " + " | ".join(next(iter(res["speed"].values())))
                  + " |", "|---|" + "---|" * len(next(iter(res["speed"].values())))]
        for n, r in res["speed"].items():
            lines.append(f"| {n} | " + " | ".join(_f(v, ".1f") for v in r.values()) + " |")
    return "\n".join(lines) + "\n"


def write_report(res: dict[str, Any], sheets: dict[str, np.ndarray], out: Path) -> list[Path]:
    """results.json, REPORT.md, the contact sheets and (with matplotlib) metrics.png, atomically."""
    from .io.atomic import atomic_path
    from .io.media import write_png

    written = [write_results(res, out)]
    with atomic_path(out / "REPORT.md", ".md") as tmp:
        Path(tmp).write_text(report_markdown(res))
    written.append(out / "REPORT.md")
    for name, img in sheets.items():
        written.append(write_png(out / f"{name}.png", img))
    plot = _plot(res, out / "metrics.png")
    if plot is not None:
        written.append(plot)
    return written


def _plot(res: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from .io.atomic import atomic_path

    b = res["backends"]
    keys = [k for k in RESULT_KEYS if any(np.isfinite(b[n][k]) for n in b)]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.1 * len(keys), 2.8), dpi=110)
    for ax, k in zip(np.atleast_1d(axes), keys):
        vals = [b[n][k] for n in b]
        ax.bar(list(b), vals, color=["#888", "#3a7"][: len(vals)] + ["#37a"] * max(0, len(vals) - 2))
        ax.set_title(NAMES[k], fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def readme_block(res: dict[str, Any]) -> str:
    """README's evaluation tables, from a results.json of `inspatio-gym eval`."""
    b = res["backends"]
    names = list(b)
    lines = ["| metric | " + " | ".join(names) + " | the original (RealEstate10K) |", "|---|" + "---|" * (len(names) + 1)]
    for k in RESULT_KEYS:
        orig = ORIGINAL.get(k)
        lines.append(f"| {NAMES[k]} | " + " | ".join(_f(b[n][k], ".1f" if k == "steps_per_s" else ".3f") for n in names)
                     + f" | {orig if orig is not None else ''} |")
    cam = res.get("camera") or {}
    if cam:
        lines += ["", "| camera control: frames from | size | registered | RotErr | TransErr | CamMC |", "|---|---|---|---|---|---|"]
        for who, rows in cam.items():
            for r in rows:
                lines.append(f"| {who} ({r['trajectory']}) | {r['size']} | {r.get('registered', 0)}/{r['frames']} | "
                             f"{_f(r.get('roterr'))} | {_f(r.get('transerr'))} | {_f(r.get('cammc'))} |")
    return "\n".join(lines)


def write_readme(res: dict[str, Any], readme: Path) -> None:
    """README's evaluation tables (its `eval` block) from a results.json."""
    from .io.atomic import replace_generated_blocks

    replace_generated_blocks(readme, "inspatio_gym.eval_suite", {"eval": readme_block(res)})


if __name__ == "__main__":  # python -m inspatio_gym.eval_suite RESULTS.json README.md
    import sys

    write_readme(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    print(f"rewrote the evaluation tables in {sys.argv[2]} from {sys.argv[1]}")
