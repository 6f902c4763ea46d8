"""Evaluation of the trained STAR generator against the warp baseline (issues 6 and 13).

Held-out procedural worlds (seeds the training never sees): the env's own control (random
actions, inside the leash) drives a camera for 64 steps; every method then replays exactly
those cameras through the Backend API, and each view is scored against the scene rendered
exactly at that camera and time: PSNR and SSIM on full frames and on the warp's holes, PSNR
in the seam band around the holes and the latent-grid blockiness inside them (4 px at 64 px, 8 px for the 8x VAE).

Held-out real multi-view scenes (HELD_OUT_SCENES, in ../shared/data/real_multiview):
novel views (inspatio_gym.eval.novel_views): time frozen at frame i, the camera at the pose
of frame i + 2 and i + 3, scored against the real frame there, with the same metrics.

Then one 300-step rollout (quality over time), real clips (reconstruction along the source
trajectory; temporal flicker where the scene is static) and ablations (no cache, synthetic
teacher only, 1/2/4 sampling steps).

    python benchmarks/eval_star.py [--checkpoint PATH] [--syn-only PATH] [--worlds 8]
    python benchmarks/eval_star.py --quick --out /tmp/eval_quick    # a few minutes
    python benchmarks/eval_star.py --real-only

Writes docs/results/star/REPORT.md, results.json (its "summary" block holds every table,
machine-readable) and PNG plots/contact sheets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspatio_gym.backends.star import DEFAULT_CHECKPOINT, StarBackend  # noqa: E402
from inspatio_gym.backends.warp import WarpBackend  # noqa: E402
from inspatio_gym.eval.metrics import grid_blockiness, masked_psnr, psnr, seam_band, ssim  # noqa: E402
from inspatio_gym.eval.novel_views import NovelViews, novel_views  # noqa: E402
from inspatio_gym.train.data.seeds import HELD_OUT_SCENES, HELD_OUT_SEEDS  # noqa: E402
from inspatio_gym.world.sources import procedural_world  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real"
REAL_MULTIVIEW = ROOT.parent / "shared" / "data" / "real_multiview"
OUT = ROOT / "docs" / "results" / "star"
#: The frame size and the latent grid's period in pixels: the checkpoint's (set in main).
SIZE = 64
PERIOD = 4
#: Novel-view gaps on real scenes (frames between the frozen reference and the target pose).
GAPS = (2, 3)
#: The bars of issue 13, on procedural and on real held-out data: star - warp at least this.
BARS = (("psnr_holes", "PSNR in the warp's holes", 1.0, "dB"), ("psnr", "full-frame PSNR", 0.0, "dB"),
        ("ssim", "full-frame SSIM", 0.0, ""))
#: The keys of a summary row (every table of the report shows these).
SUMMARY_KEYS = ("psnr", "ssim", "psnr_holes", "ssim_holes", "psnr_seam", "blockiness", "blockiness_truth",
                "hole_fraction")


def camera_path(world, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(c2w [steps, 4, 4], frames [steps], start frame) of a random walk under the env's control."""
    import gymnasium as gym

    import inspatio_gym  # noqa: F401  (registers the env)

    env = gym.make("InspatioWorld-v0", world=world, backend="warp", width=SIZE, height=SIZE, time_mode="loop",
                   max_episode_steps=None)
    _, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    start = int(info["frame"])
    poses, frames = [], []
    for _ in range(steps):
        _, _, term, trunc, info = env.step(env.action_space.sample())
        poses.append(info["pose"])
        frames.append(int(info["frame"]))
    env.close()
    return np.stack(poses), np.array(frames), start


def replay(backend, world, c2w: np.ndarray, frames: np.ndarray, start: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every view (rgb uint8 [T, H, W, 3]) and coverage mask [T, H, W] along the cameras."""
    lanes = np.array([0])
    backend.allocate(1)
    backend.reset(world, lanes, np.array([start]), np.array([seed]))
    rgb, mask = [], []
    for p, f in zip(c2w, frames):
        v = backend.observe(world, lanes, p[None], np.array([f]))
        rgb.append(v.rgb[0])
        mask.append(v.mask[0])
    return np.stack(rgb), np.stack(mask)


def truth(world, c2w: np.ndarray, frames: np.ndarray) -> np.ndarray:
    scene = world.meta["scene"]
    t = torch.from_numpy(frames.astype(np.float32) / world.fps)
    rgb, _ = scene.render(torch.from_numpy(c2w), torch.from_numpy(world.K), SIZE, SIZE, t, 2)
    return (rgb.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def scores(pred: np.ndarray, gt: np.ndarray, holes: np.ndarray) -> dict[str, float]:
    full = [psnr(p, g) for p, g in zip(pred, gt)]
    hp = [masked_psnr(p, g, h) for p, g, h in zip(pred, gt, holes) if h.any()]
    # holes pooled over the rollout (one MSE over all hole pixels) and per frame
    hole_mse = float(np.mean(((pred.astype(np.float64) - gt) / 255.0)[holes] ** 2)) if holes.any() else float("nan")
    return {"psnr": float(np.mean(full)), "ssim": float(np.mean([ssim(p, g) for p, g in zip(pred, gt)])),
            "psnr_holes": -10 * np.log10(hole_mse) if holes.any() else float("nan"),
            "psnr_holes_frame_mean": float(np.nanmean(hp)) if hp else float("nan"),
            "ssim_holes": float(np.nanmean([ssim(p, g, mask=h) for p, g, h in zip(pred, gt, holes) if h.any()]))
            if holes.any() else float("nan"),
            "psnr_seam": masked_psnr(pred, gt, seam_band(holes, 2)),  # pooled over the rollout's seam pixels
            "blockiness": grid_blockiness(pred, holes, PERIOD), "blockiness_truth": grid_blockiness(gt, holes, PERIOD),
            "psnr_per_step": full}


def make_methods(ckpt: Path, syn_only: Path | None, ablations: bool, compare: dict[str, Path] | None = None) -> dict:
    m = {"warp": lambda: WarpBackend(), "star": lambda: StarBackend(checkpoint=ckpt, device="cpu"),
         "star, whole generated frame": lambda: StarBackend(checkpoint=ckpt, device="cpu", keep_covered=False)}
    if ablations:
        m["star, no cache"] = lambda: StarBackend(checkpoint=ckpt, device="cpu", context=())
        m["star, no history"] = lambda: StarBackend(checkpoint=ckpt, device="cpu", context=("reference",))
        for k in (1, 4):
            m[f"star, {k} step{'s' if k > 1 else ''}"] = (lambda k=k: StarBackend(checkpoint=ckpt, device="cpu",
                                                                                 sampler_steps=k))
        if syn_only is not None:
            m["star, synthetic teacher only (DMD)"] = lambda: StarBackend(checkpoint=syn_only, device="cpu")
    for name, path in (compare or {}).items():
        m[name] = lambda path=path: StarBackend(checkpoint=path, device="cpu")
    return m


def through_vae(vae, frames: np.ndarray) -> np.ndarray:
    """uint8 frames [T, H, W, 3] encoded and decoded as one stream by the generator's VAE."""
    with torch.no_grad():
        x = torch.from_numpy(frames).float().div(127.5).sub(1).permute(0, 3, 1, 2)[None]
        y = vae.decode(vae.encode(x))[0]
    return ((y.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).byte().numpy()


def held_out(methods: dict, n_worlds: int, steps: int, vae=None) -> dict:
    res: dict = {name: [] for name in methods}
    kinds = ["room", "room", "street"]
    paths = ["pan", "dolly", "orbit"]
    for i in tqdm(range(n_worlds), desc="held-out worlds"):
        seed = HELD_OUT_SEEDS[i]
        world = procedural_world(seed=seed, kind=kinds[i % 3], path=paths[(i // 3 + i) % 3], num_frames=48,
                                 width=SIZE, height=SIZE)
        c2w, frames, start = camera_path(world, steps, seed)
        gt = truth(world, c2w, frames)
        views = {name: replay(make(), world, c2w, frames, start, seed) for name, make in methods.items()}
        holes = ~views["warp"][1].astype(bool)
        if vae is not None:  # the VAE's ceiling: the true frames through it, in the holes only
            views["upper bound: true frames through the VAE, in the holes"] = (
                np.where(holes[..., None], through_vae(vae, gt), views["star"][0]), views["star"][1])
            res.setdefault("upper bound: true frames through the VAE, in the holes", [])
        for name, (rgb, _) in views.items():
            res[name].append({"seed": seed, **scores(rgb, gt, holes), "hole_fraction": float(holes.mean())})
        if i == 0:
            every = max(1, steps // 8)
            cols = [f"step {k}" for k in range(0, steps, every)]
            labelled_sheet([("truth", gt[::every]), ("warp", views["warp"][0][::every]),
                            ("star", views["star"][0][::every]),
                            ("warp holes", (holes[::every, ..., None] * 255).repeat(3, -1).astype(np.uint8))],
                           OUT / "held_out_world0.png", cols, f"held-out world {seed}: exact render | warp | star")
    return res


def long_rollout(ckpt: Path, steps: int) -> dict:
    seed = HELD_OUT_SEEDS[-1]
    world = procedural_world(seed=seed, kind="room", path="orbit", num_frames=48, width=SIZE, height=SIZE)
    c2w, frames, start = camera_path(world, steps, seed)
    gt = truth(world, c2w, frames)
    out = {}
    for name, make in (("warp", WarpBackend), ("star", lambda: StarBackend(checkpoint=ckpt, device="cpu"))):
        rgb, _ = replay(make(), world, c2w, frames, start, seed)
        per = [psnr(p, g) for p, g in zip(rgb, gt)]
        out[name] = {"psnr_per_step": per, "first_50": float(np.mean(per[:50])), "last_50": float(np.mean(per[-50:]))}
        if name == "star":
            every = max(1, steps // 10)
            labelled_sheet([("truth", gt[::every]), ("star", rgb[::every])], OUT / "long_rollout.png",
                           [f"step {k}" for k in range(0, steps, every)], f"{steps}-step rollout, held-out world {seed}")
    return out


def real_clips(methods: dict) -> dict:
    """Along the source trajectory: PSNR against the video; flicker on static pixels."""
    from inspatio_gym.train.data.pair_sources import load_real_worlds

    out: dict = {}
    if not DATA.exists():
        return out
    srcs = [str(DATA / "7scenes_redkitchen"), *map(str, sorted(DATA.glob("*.mp4"))), *map(str, sorted(DATA.glob("*.avi")))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worlds = load_real_worlds(srcs, SIZE)
    for world in tqdm(worlds, desc="real clips"):
        T = min(world.num_frames, 48)
        frames = np.arange(T)
        c2w = world.c2w[:T]
        ref = world.frames[:T].astype(np.float64)
        # static pixels: the video itself changes there by under 3 grey levels between frames
        static = (np.abs(np.diff(ref, axis=0)).max(-1) < 3).all(0)
        entry = {"static_fraction": float(static.mean()),
                 "video_flicker": float(np.abs(np.diff(ref, axis=0)).mean(-1)[:, static].mean()) if static.any() else None}
        for name, make in methods.items():
            rgb, _ = replay(make(), world, c2w, frames, 0, 0)
            d = np.abs(np.diff(rgb.astype(np.float64), axis=0)).mean(-1)
            entry[name] = {"psnr": float(np.mean([min(psnr(p, g), 99.0) for p, g in zip(rgb, world.frames[:T])])),
                           "flicker": float(d[:, static].mean()) if static.any() else None}
        out[world.name] = entry
    return out


def labelled_sheet(rows: list[tuple[str, np.ndarray]], path: Path, col_labels: list[str], title: str = "",
                   scale: int = 2) -> None:
    """Rows of frames [n, H, W, 3] (uint8), each with its label on the left and a label above
    every column, upscaled `scale`x, as one PNG."""
    import cv2

    from inspatio_gym.io.media import write_png

    font, fs = cv2.FONT_HERSHEY_SIMPLEX, 0.38
    n, H, W = rows[0][1].shape[:3]
    h, w = H * scale, W * scale
    lw, th = 64, 32 if title else 16
    img = np.full((th + len(rows) * h, lw + n * w, 3), 24, np.uint8)
    if title:
        cv2.putText(img, title, (3, 12), font, fs, (255, 255, 180), 1, cv2.LINE_AA)
    for c, lab in enumerate(col_labels):
        cv2.putText(img, lab, (lw + c * w + 3, th - 4), font, fs, (220, 220, 220), 1, cv2.LINE_AA)
    for r, (label, frames) in enumerate(rows):
        y = th + r * h
        for c, f in enumerate(frames):
            img[y : y + h, lw + c * w : lw + (c + 1) * w] = f.repeat(scale, 0).repeat(scale, 1)
        for k, part in enumerate(label.split("\n")):
            cv2.putText(img, part, (3, y + h // 2 - 2 + 13 * k), font, fs, (255, 255, 255), 1, cv2.LINE_AA)
    write_png(path, img)


def real_sheet(nv: NovelViews, path: Path, columns: int = 8) -> None:
    """Contact sheet of one scene's novel views: truth | warp | star | (star's whole frame) | holes."""
    sel = np.unique(np.linspace(0, len(nv.ref) - 1, min(columns, len(nv.ref))).round().astype(int))
    rows = [("truth", nv.truth[sel]), ("warp", nv.rgb["warp"][sel]), ("star", nv.rgb["star"][sel])]
    if "star, whole generated frame" in nv.rgb:
        rows.append(("star,\nwhole gen.", nv.rgb["star, whole generated frame"][sel]))
    rows.append(("warp\nholes", (nv.holes[sel, ..., None] * 255).repeat(3, -1).astype(np.uint8)))
    labelled_sheet(rows, path, [f"{i}->{j}" for i, j in zip(nv.ref[sel], nv.target[sel])],
                   f"{nv.world[0]}: novel views, time frozen at frame i, camera at frame j (i->j), truth = real frame j")


def real_novel_views(methods: dict, stride: int, gaps: tuple[int, ...] = GAPS) -> dict:
    """Novel views of the held-out real scenes (time frozen at frame i, the camera at frame
    i + gap's pose, scored against the real frame): per scene and pooled over every view of
    every scene, per method and per gap; a contact sheet per scene. {} without the data."""
    from inspatio_gym.world.sources.multiview import multiview_world

    if not REAL_MULTIVIEW.is_dir():
        print(f"real held-out scenes skipped: {REAL_MULTIVIEW} is absent")
        return {}
    out: dict = {"gaps": list(gaps), "stride": stride, "scenes": {}, "missing": []}
    parts = []
    for name in tqdm(HELD_OUT_SCENES, desc="held-out real scenes"):
        folder = REAL_MULTIVIEW / name
        if not folder.is_dir():
            print(f"real held-out scene {name} skipped: {folder} is absent")
            out["missing"].append(name)
            continue
        t0 = time.perf_counter()
        world = multiview_world(folder, width=SIZE, height=SIZE)
        nv = novel_views(methods, world, gaps, stride)
        out["scenes"][name] = {"frames": world.num_frames, "depth_source": world.depth_source,
                               "views": len(nv.ref), "methods": nv.scores(period=PERIOD), "seconds": round(time.perf_counter() - t0, 1)}
        real_sheet(nv, OUT / f"real_{name}.png")
        parts.append(nv)
    if parts:
        out["pooled"] = NovelViews.concat(parts).scores(period=PERIOD)
    return out


def plot(res: dict) -> bool:
    """The long rollout's PSNR over time as a PNG; False (and a message) without matplotlib
    (an optional dependency: the `examples` extra)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install 'inspatio-gym[examples]'): no long-rollout plot")
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lr = res["long_rollout"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, r in lr.items():
        ax.plot(r["psnr_per_step"], label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR vs exact render (dB)")
    ax.set_title("300-step rollout, held-out world")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "long_rollout_psnr.png", dpi=120)
    plt.close(fig)
    return True


def summarise(rows: list[dict]) -> dict[str, float]:
    """Mean over the held-out worlds of each per-world figure."""
    keys = ["psnr", "ssim", "psnr_holes", "psnr_holes_frame_mean", "ssim_holes", "psnr_seam", "blockiness",
            "blockiness_truth", "hole_fraction"]
    return {k: float(np.nanmean([r.get(k, np.nan) for r in rows])) for k in keys if any(k in r for r in rows)}


def _row(d: dict) -> dict[str, float]:
    return {k: float("nan") if d[k] is None else float(d[k]) for k in SUMMARY_KEYS if k in d}


def _num(x) -> float:
    """A figure read back from JSON (null = not measurable) as a float."""
    return float("nan") if x is None else float(x)


def _fmt(x, spec: str) -> str:
    x = _num(x)
    return "–" if not np.isfinite(x) else format(x, spec)


def bars(summary: dict) -> list[dict]:
    """The issue's bars (star - warp on each held-out data set) with the measured difference."""
    out = []
    for data in ("procedural", "real"):
        t = summary.get(data) or {}
        if "star" not in t or "warp" not in t:
            continue
        for key, what, bar, unit in BARS:
            d = _num(t["star"].get(key)) - _num(t["warp"].get(key))
            out.append({"data": data, "metric": key, "what": what, "delta": d, "bar": bar, "unit": unit,
                        "met": bool(np.isfinite(d) and d >= bar)})
    return out


def bar_line(b: dict) -> str:
    """e.g. 'real: PSNR in the warp's holes +0.31 dB (bar >= +1.0): MISSED by 0.69 dB'."""
    fmt = "{:+.3f}" if b["metric"] == "ssim" else "{:+.2f}"
    u = f" {b['unit']}" if b["unit"] else ""
    if not np.isfinite(_num(b["delta"])):
        return f"{b['data']}: {b['what']}: not measurable (no such pixels)"
    gap = b["bar"] - b["delta"]
    verdict = "met" if b["met"] else f"MISSED by {fmt.format(gap).lstrip('+')}{u}"
    return f"{b['data']}: {b['what']} {fmt.format(b['delta'])}{u} (bar >= {fmt.format(b['bar'])}): {verdict}"


def make_summary(res: dict) -> dict:
    """The machine-readable tables: {"procedural": {method: row}, "real": {method: row},
    "real_by_gap": {gap: {method: row}}, "real_by_scene": {scene: {method: row}}, "bars": [...]}
    with rows of SUMMARY_KEYS (blockiness_truth: the truth's own level in the same holes)."""
    s: dict = {"keys": list(SUMMARY_KEYS)}
    if res.get("held_out"):
        s["procedural"] = {name: _row(summarise(rows)) for name, rows in res["held_out"].items()}
        s["procedural_worlds"] = res["worlds"]
        s["procedural_steps"] = res["steps"]
    rn = res.get("real_novel_views") or {}
    if rn.get("pooled"):
        s["real"] = {m: _row(v["pooled"]) for m, v in rn["pooled"].items()}
        s["real_by_gap"] = {str(g): {m: _row(v["by_gap"].get(g) or v["by_gap"][str(g)]) for m, v in rn["pooled"].items()}
                            for g in rn["gaps"]}
        s["real_by_scene"] = {sc: {m: _row(v["pooled"]) for m, v in e["methods"].items()}
                              for sc, e in rn["scenes"].items()}
        s["real_scenes"] = list(rn["scenes"])
        s["real_views"] = int(sum(e["views"] for e in rn["scenes"].values()))
        s["real_gaps"], s["real_stride"] = rn["gaps"], rn["stride"]
    if res.get("long_rollout"):
        s["long_rollout"] = {m: {"first_50": r["first_50"], "last_50": r["last_50"]}
                             for m, r in res["long_rollout"].items()}
    s["bars"] = bars(s)
    return s


def _table(t: dict[str, dict], first: str = "method") -> list[str]:
    lines = [f"| {first} | PSNR | SSIM | PSNR in warp holes | SSIM in warp holes | PSNR in seam band | "
             "blockiness in holes | holes |", "|---|---|---|---|---|---|---|---|"]
    for name, r in t.items():
        lines.append(f"| {name} | {_fmt(r['psnr'], '.2f')} | {_fmt(r['ssim'], '.3f')} | {_fmt(r['psnr_holes'], '.2f')} | "
                     f"{_fmt(r['ssim_holes'], '.3f')} | {_fmt(r['psnr_seam'], '.2f')} | {_fmt(r['blockiness'], '.2f')} | "
                     f"{_fmt(100 * _num(r['hole_fraction']), '.1f')}% |")
    truth = next((r["blockiness_truth"] for r in t.values() if "blockiness_truth" in r), None)
    if truth is not None:  # the same truth and holes for every method: one natural level
        lines.append(f"| truth (natural level) | | | | | | {_fmt(truth, '.2f')} | |")
    return lines


def tables_markdown(results: dict) -> str:
    """The summary tables of results.json (results["summary"], made if absent) as markdown:
    procedural and real held-out data, real per gap and per scene, and the bars."""
    s = results.get("summary") or make_summary(results)
    lines: list[str] = []
    note = ("PSNR/SSIM: full frame, mean over views. Holes: pixels the warp's render does not cover (the same "
            "for every method), one PSNR over all of them. Seam band: pixels within 2 px of a hole border, both "
            f"sides. Blockiness: mean |gradient| across the latent grid's lines ({results.get('blockiness_period', 4)} px) "
            "over the mean elsewhere, inside the holes (~1 natural; a latent mosaic is clearly above); the truth "
            "row gives the natural level.")
    if "procedural" in s:
        lines += [f"### Held-out procedural worlds ({s['procedural_worlds']} worlds, {s['procedural_steps']}-step "
                  "random walks under the env's control)", "", *_table(s["procedural"]), ""]
    if "real" in s:
        lines += [f"### Held-out real scenes: novel views ({', '.join(s['real_scenes'])}; {s['real_views']} views: "
                  f"time frozen at frame i, camera at frame i+{' and i+'.join(map(str, s['real_gaps']))}, every "
                  f"{'' if s['real_stride'] == 1 else str(s['real_stride']) + '-th '}reference frame)", "",
                  *_table(s["real"]), ""]
        for g, t in s["real_by_gap"].items():
            lines += [f"Gap {g} frames:", "", *_table(t), ""]
        for sc, t in s["real_by_scene"].items():
            lines += [f"Scene `{sc}`:", "", *_table(t), ""]
    if lines:
        lines += [note, ""]
    if s.get("bars"):
        lines += ["### Bars (issue 13: star - warp)", ""] + [f"- {bar_line(b)}" for b in s["bars"]] + [""]
    return "\n".join(lines)


def write_report(res: dict) -> None:
    lines = ["# STAR generator evaluation", "",
             f"Checkpoint `{res['checkpoint']}` (sha256 `{res['sha256'][:16]}…`). Generated by "
             f"`benchmarks/eval_star.py{' --quick' if res.get('quick') else ''}` on a 2-core CPU in "
             f"{res['seconds']:.0f} s; every figure below is from that run.", "", "## Held-out data", "",
             tables_markdown(res)]
    lr = res.get("long_rollout")
    if lr:
        lines += [f"## {res['long_steps']}-step rollout", "", "| method | PSNR steps 0–50 | PSNR last 50 steps | drop |",
                  "|---|---|---|---|"]
        for name, r in lr.items():
            lines.append(f"| {name} | {r['first_50']:.2f} | {r['last_50']:.2f} | {r['first_50'] - r['last_50']:+.2f} |")
        lines += ["", "![PSNR over the long rollout](long_rollout_psnr.png)" if res.get("plotted") else
                  "(no plot: matplotlib was not installed)", ""]
    if res.get("real_clips_error"):
        lines += ["## Real clips (along the source trajectory)", "", f"**Not measured: the section failed "
                  f"({res['real_clips_error']}).**", ""]
    if res.get("real"):
        lines += ["## Real clips (along the source trajectory)", "",
                  "PSNR against the video frame (capped at 99 dB: along its own trajectory the warp reproduces "
                  "the video, so the generator is scored on its whole frame here); flicker = mean absolute "
                  "difference of consecutive frames (grey levels) on pixels where the video itself changes by "
                  "< 3 levels (none on the moving 7-Scenes camera: –).", "",
                  "| clip | method | PSNR | flicker | video's own flicker |", "|---|---|---|---|---|"]
        for clip, e in res["real"].items():
            for name, r in e.items():
                if isinstance(r, dict):
                    fl = "–" if r["flicker"] is None else f"{r['flicker']:.2f}"
                    vf = "–" if e["video_flicker"] is None else f"{e['video_flicker']:.2f}"
                    lines.append(f"| {clip} | {name} | {r['psnr']:.2f} | {fl} | {vf} |")
        lines.append("")
    sheets = []
    if res.get("held_out"):
        sheets.append("`held_out_world0.png` (rows: exact render, warp, star, warp holes)")
    if lr:
        sheets.append("`long_rollout.png` (exact render, star)")
    for sc in (res.get("real_novel_views") or {}).get("scenes", {}):
        sheets.append(f"`real_{sc}.png`")
    if sheets:
        lines += ["Contact sheets: " + ", ".join(sheets) + (" (real: rows truth, warp, star, star's whole generated "
                  "frame, warp holes; columns reference frame -> target frame)" if res.get("real_novel_views") else "")
                  + ".", ""]
    (OUT / "REPORT.md").write_text("\n".join(lines))


def _json_safe(x):
    """Non-finite floats as null, numpy scalars as Python numbers, int keys as strings."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def main() -> None:
    global OUT, SIZE, PERIOD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--syn-only", type=Path, default=None, help="a checkpoint distilled with the synthetic teacher only")
    ap.add_argument("--worlds", type=int, default=None, help="held-out procedural worlds (default 8; --quick 3)")
    ap.add_argument("--steps", type=int, default=None, help="steps per world (default 64; --quick 24)")
    ap.add_argument("--long", type=int, default=300)
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--real-stride", type=int, default=None,
                    help="every n-th reference frame of the real scenes (default 1; --quick 4)")
    ap.add_argument("--quick", action="store_true",
                    help="a few minutes: 3 worlds x 24 steps, real stride 4, no ablations, long rollout or real clips")
    ap.add_argument("--real-only", action="store_true", help="only the held-out real scenes' novel views")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="another checkpoint to score, e.g. 'star, causal stage only=runs/causal_cpu/star.safetensors'")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    worlds = args.worlds if args.worlds is not None else (3 if args.quick else 8)
    steps = args.steps if args.steps is not None else (24 if args.quick else 64)
    stride = args.real_stride if args.real_stride is not None else (4 if args.quick else 1)
    ablations = not (args.no_ablations or args.quick)
    from inspatio_gym.model.checkpoint import load_checkpoint

    ccfg = load_checkpoint(args.checkpoint)[0]
    SIZE, PERIOD = ccfg.height, ccfg.vae.spatial_compression
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    import hashlib

    t0 = time.perf_counter()
    compare = {}
    for item in args.compare:
        name, sep, path = item.partition("=")
        if not sep:
            ap.error(f"--compare wants NAME=PATH, got {item!r}")
        compare[name] = Path(path)
    methods = make_methods(args.checkpoint, args.syn_only, ablations, compare)
    res = {"checkpoint": str(args.checkpoint.relative_to(ROOT) if args.checkpoint.is_relative_to(ROOT) else args.checkpoint),
           "sha256": hashlib.sha256(args.checkpoint.read_bytes()).hexdigest(), "worlds": worlds, "steps": steps,
           "long_steps": args.long, "quick": args.quick, "real_only": args.real_only, "size": SIZE,
           "blockiness_period": PERIOD}
    if not args.real_only:
        from inspatio_gym.model.generator import StarGenerator

        cfg, state, _ = load_checkpoint(args.checkpoint)
        gen = StarGenerator(cfg)
        gen.load_state_dict(state)
        res["held_out"] = held_out(methods, worlds, steps, gen.vae.eval())
        if not args.quick:
            res["long_rollout"] = long_rollout(args.checkpoint, args.long)
    # novel views of the held-out real scenes: the warp, star (covered pixels = the render) and
    # star's whole generated frame, plus any --compare checkpoint
    nv_methods = {k: methods[k] for k in ("warp", "star", "star, whole generated frame")}
    nv_methods.update({name: methods[name] for name in compare})
    res["real_novel_views"] = real_novel_views(nv_methods, stride)
    if not (args.real_only or args.quick):
        # along the source trajectory the render covers nearly everything and the warp is the video
        # itself, so real clips score the generator's whole frame (where the fidelity teacher acts)
        real_methods = {"warp": WarpBackend,
                        "star, whole generated frame": lambda: StarBackend(checkpoint=args.checkpoint, device="cpu",
                                                                           keep_covered=False)}
        if args.syn_only is not None:
            real_methods["star, synthetic teacher only (DMD), whole generated frame"] = (
                lambda: StarBackend(checkpoint=args.syn_only, device="cpu", keep_covered=False))
        for name, path in compare.items():
            real_methods[f"{name}, whole generated frame"] = (
                lambda path=path: StarBackend(checkpoint=path, device="cpu", keep_covered=False))
        try:
            res["real"] = real_clips(real_methods)
        except Exception as e:  # the older section must not cost the run's other results: reported, not hidden
            import traceback

            traceback.print_exc()
            print(f"real clips FAILED ({type(e).__name__}: {e}); the rest of the report is written")
            res["real_clips_error"] = f"{type(e).__name__}: {e}"
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["summary"] = make_summary(res)
    res = _json_safe(res)
    (OUT / "results.json").write_text(json.dumps(res, indent=1))
    res["plotted"] = bool(res.get("long_rollout")) and plot(res)
    write_report(res)
    s = res["summary"]
    for data in ("procedural", "real"):
        if data not in s:
            continue
        print(f"{data} held-out:")
        for name, r in s[data].items():
            print(f"  {name:38s} PSNR {_fmt(r['psnr'], '6.2f')}  SSIM {_fmt(r['ssim'], '.3f')}  "
                  f"holes PSNR {_fmt(r['psnr_holes'], '6.2f')}  seam PSNR {_fmt(r['psnr_seam'], '6.2f')}  "
                  f"blockiness {_fmt(r['blockiness'], '.2f')} (truth {_fmt(r['blockiness_truth'], '.2f')})  "
                  f"holes {_fmt(100 * _num(r['hole_fraction']), '.1f')}%")
    for b in s["bars"]:
        print(bar_line(b))
    if res.get("long_rollout"):
        lr = res["long_rollout"]["star"]
        print(f"long rollout star: first 50 {lr['first_50']:.2f} dB, last 50 {lr['last_50']:.2f} dB "
              f"(drop {lr['first_50'] - lr['last_50']:+.2f}, target <= 2)")
    print(f"wrote {OUT / 'REPORT.md'} in {res['seconds']} s")


if __name__ == "__main__":
    main()
