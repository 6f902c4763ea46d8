"""Accuracy and speed of video preprocessing (SfM poses, plane-sweep depth, fallback).

Writes docs/results/preprocess/REPORT.md, results.json and depth previews. Cases:
- procedural worlds rendered to MP4 files (ground truth exact): orbit and dolly paths on
  held-out seeds, and a rotation-only pan that must take the fallback;
- ../shared/data/real/7scenes_redkitchen (ground-truth pose and metric depth);
- the static real clips: the fallback must be chosen and the env must run;
- the focal search (--focal or the full run): orbits and dollies rendered at fovs other than the
  60 deg prior (52-68 deg; the band 3-7% off the prior on three scenes), the focal found and the
  rotation error, and the time of a
  100-frame clip whose first SfM attempt succeeds.
Errors: rotation (degrees, poses relative to frame 0), translation after the least-squares
scale that best aligns the camera centres (as a fraction of the path length), and depth
AbsRel / delta < 1.25 with that same scale (so depth and poses must agree on one scale); for
the real clip also delta < 1.25 at the depth's own (median-matched) scale and the ratio of
the two scales, which tell a wrong depth shape from depth and path disagreeing in scale.

Run: python benchmarks/preprocess_accuracy.py [--quick] [--focal]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"
OUT = ROOT / "docs" / "results" / "preprocess"


def rot_err_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    R = np.swapaxes(a[:, :3, :3], 1, 2) @ b[:, :3, :3]
    return np.degrees(np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def score(pre, gt_c2w: np.ndarray, gt_depth: np.ndarray | None) -> dict:
    gt = np.linalg.inv(gt_c2w[0]) @ gt_c2w
    est = pre.c2w
    te, tg = est[:, :3, 3], gt[:, :3, 3]
    s = float((te * tg).sum() / max((te * te).sum(), 1e-12))
    path = float(np.linalg.norm(np.diff(tg, axis=0), axis=1).sum())
    out = {"rot_err_deg_mean": float(rot_err_deg(est, gt).mean()), "rot_err_deg_max": float(rot_err_deg(est, gt).max()),
           "trans_err_rel_path": float(np.linalg.norm(te * s - tg, axis=1).mean() / max(path, 1e-12)),
           "path_length": path}
    if gt_depth is not None:
        d = pre.depth * s
        m = gt_depth > 0
        ratio = np.maximum(d[m] / gt_depth[m], gt_depth[m] / np.maximum(d[m], 1e-9))
        out.update(absrel=float(np.mean(np.abs(d[m] - gt_depth[m]) / gt_depth[m])), delta125=float(np.mean(ratio < 1.25)))
        # the depth's shape on its own: its own scale (medians matched), as monocular depth is scored; and how
        # far the camera path's scale is from it (1: depth and poses agree, as a consistent world needs)
        s_med = float(np.median(gt_depth[m]) / max(float(np.median(pre.depth[m])), 1e-12))
        d = pre.depth * s_med
        ratio = np.maximum(d[m] / gt_depth[m], gt_depth[m] / np.maximum(d[m], 1e-9))
        out.update(delta125_median=float(np.mean(ratio < 1.25)), path_to_depth_scale=s / s_med)
    return out


def preview(pre, path: Path, gt_depth: np.ndarray | None = None) -> None:
    idx = np.linspace(0, len(pre.depth) - 1, 4).round().astype(int)
    rows = [np.concatenate([pre.frames[i] for i in idx], 1)]
    maps = [pre.depth[idx]] + ([gt_depth[idx] * (np.median(pre.depth) / np.median(gt_depth[gt_depth > 0]))]
                                if gt_depth is not None else [])
    lo, hi = np.percentile(1 / np.maximum(pre.depth, 1e-6), [2, 98])
    for m in maps:
        inv = np.clip((1 / np.maximum(m, 1e-6) - lo) / max(hi - lo, 1e-9), 0, 1)
        inv = np.where(m > 0, inv, 0)
        rows.append(np.concatenate([cv2.applyColorMap((255 * v).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
                                    for v in inv], 1))
    from inspatio_gym.io.media import write_png

    write_png(path, np.concatenate(rows, 0))


def seven_scenes(n: int | None):
    d = DATA / "7scenes_redkitchen" / "frames"
    files = sorted(d.glob("*.color.png"))[:n]
    c2w = np.stack([np.loadtxt(str(f).replace(".color.png", ".pose.txt")) for f in files])
    depth = []
    for f in files:
        z = cv2.imread(str(f).replace(".color.png", ".depth.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        z[(z == 0) | (z >= 65535)] = 0
        depth.append(cv2.resize(z / 1000.0, (320, 240), interpolation=cv2.INTER_NEAREST))
    return d, c2w, np.stack(depth)


#: Field of view (degrees), path and scene seed of the focal-search cases (the prior is 60 deg):
#: orbits over the range, the band 3-7% off the prior (57, 58, 62, 63 deg) on three scenes, dollies
#: (scene 103 was added after the search's last change, as a check it was not tuned on).
FOCAL_CASES = ([(fov, "orbit", 101) for fov in (52, 56, 57, 58, 60, 62, 63, 64, 68)]
               + [(fov, "orbit", seed) for seed in (102, 103) for fov in (57, 58, 62, 63)]
               + [(56, "dolly", 101), (64, "dolly", 101)])

#: The 7-Scenes RGB focal at 640 px: 585 is the depth camera's (the dataset's page); DSAC*
#: (vislearn/dsacstar, datasets/setup_7scenes.py) uses 525 for the colour images.
SEVEN_SCENES_RGB_FOCAL = 525.0


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (COLMAP runs in one)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def focal_cases(tmp: Path, frames: int = 48) -> list[dict]:
    """Procedural clips rendered at fovs other than the prior's: the focal found, its error and
    the rotation error."""
    from inspatio_gym.io.media import write_mp4
    from inspatio_gym.recon.preprocess import preprocess_video
    from inspatio_gym.world.sources import procedural_world

    out = []
    for fov, path, seed in tqdm(FOCAL_CASES, desc="focal cases"):
        w = procedural_world(seed=seed, path=path, num_frames=frames, width=320, height=240, fov=float(fov))
        clip = write_mp4(tmp / f"focal_{path}_{fov}_{seed}.mp4", w.frames, 12)
        pre = preprocess_video(clip, progress=False)
        r = {"case": f"{path} fov {fov} seed {seed}", "focal_true_px": round(float(w.K[0, 0]), 2), **_focal_row(pre),
             **score(pre, w.c2w, None)}
        out.append(r)
        print(json.dumps(r))
    return out


def _focal_row(pre) -> dict:
    r = pre.report
    return {"focal_px": round(float(pre.K[0, 0]), 2), "focal_prior_px": r.get("focal_prior_px"),
            "focal_refined": r.get("focal_refined"), "focal_reason": (r.get("focal_search") or {}).get("reason"),
            "registered": r.get("registered"), "frames": r["frames"], "fallback": r["fallback"],
            "far_fraction": r.get("far_fraction"), "seconds": r["seconds"]}


def timing_case(tmp: Path, frames: int = 100) -> dict:
    """Wall and CPU seconds of a 100-frame orbit whose first SfM attempt succeeds."""
    from inspatio_gym.io.media import write_mp4
    from inspatio_gym.recon.preprocess import preprocess_video
    from inspatio_gym.world.sources import procedural_world

    w = procedural_world(seed=101, path="orbit", num_frames=frames, width=320, height=240)
    clip = write_mp4(tmp / "timing.mp4", w.frames, 12)
    cpu = _cpu_seconds()
    pre = preprocess_video(clip, progress=False)
    r = {"case": f"orbit, {frames} frames", "cpu_seconds": round(_cpu_seconds() - cpu, 1),
         "attempts": len(pre.report.get("sfm_attempts", [])), "timings": pre.report["timings"], **_focal_row(pre),
         **score(pre, w.c2w, None)}
    print(json.dumps(r))
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one seed per path")
    ap.add_argument("--focal", action="store_true", help="only the focal-search cases and the timing")
    ap.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from results.json")
    args = ap.parse_args()
    if args.report_only:
        write_report(json.loads((OUT / "results.json").read_text()))
        return
    # real timings: no cache hits; the clips and the cache are removed at the end
    with tempfile.TemporaryDirectory(prefix="inspatio-acc-") as cache, \
            tempfile.TemporaryDirectory(prefix="inspatio-acc-videos-") as videos:
        os.environ["INSPATIO_GYM_CACHE"] = cache
        _run(args, Path(videos))


def _run(args: argparse.Namespace, tmp: Path) -> None:
    """The cases; clips are written to tmp."""
    if args.focal:
        OUT.mkdir(parents=True, exist_ok=True)
        old = json.loads((OUT / "results.json").read_text()) if (OUT / "results.json").exists() else {}
        res = {"procedural": [], "real": [], "static": [], **old, "focal": focal_cases(tmp), "timing": timing_case(tmp)}
        (OUT / "results.json").write_text(json.dumps(res, indent=1))
        write_report(res)
        return
    from inspatio_gym.io.media import write_mp4
    from inspatio_gym.recon.disk_cache import preprocessed
    from inspatio_gym.recon.preprocess import PreprocessSettings
    from inspatio_gym.world.sources import procedural_world

    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"procedural": [], "real": [], "static": []}
    seeds = [101] if args.quick else [101, 102, 103]
    for path in ("orbit", "dolly", "pan"):
        for seed in seeds:
            w = procedural_world(seed=seed, path=path, num_frames=48, width=320, height=240)
            clip = write_mp4(tmp / f"{path}_{seed}.mp4", w.frames, 12)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pre, _ = preprocessed(clip, progress=False)
            r = {"case": f"{path} seed {seed}", "fallback": pre.report["fallback"], "seconds": pre.report["seconds"],
                 "frames": pre.report["frames"], "parallax_px": pre.report["parallax_px"],
                 "registered": pre.report.get("registered"), "reproj_error_px": pre.report.get("reproj_error_px"),
                 "warned": any("parallax" in str(c.message) for c in caught),
                 **score(pre, w.c2w, None if pre.report["fallback"] else w.depth)}
            results["procedural"].append(r)
            print(json.dumps(r))
            if seed == seeds[0]:
                preview(pre, OUT / f"depth_{path}.png", w.depth)
    if (DATA / "7scenes_redkitchen").exists():
        folder, gt_c2w, gt_depth = seven_scenes(None)
        pre, _ = preprocessed(folder, progress=False)
        t0 = time.perf_counter()
        _, hit = preprocessed(folder, progress=False)  # the second time: from the disk cache
        hit_s = time.perf_counter() - t0
        assert hit
        r = {"case": "7scenes redkitchen (50 frames)", "fallback": pre.report["fallback"], "cache_hit_s": round(hit_s, 4),
             "seconds": pre.report["seconds"], "frames": pre.report["frames"],
             "registered": pre.report.get("registered"), "reproj_error_px": pre.report.get("reproj_error_px"),
             "focal_px": pre.report.get("focal_px"), "focal_true_px": 585.0 / 2,
             "focal_rgb_px": SEVEN_SCENES_RGB_FOCAL / 2, "focal_refined": pre.report.get("focal_refined"),
             "far_fraction": pre.report.get("far_fraction"), **score(pre, gt_c2w, gt_depth)}
        results["real"].append(r)
        print(json.dumps(r))
        preview(pre, OUT / "depth_7scenes.png", gt_depth)
        # the same clip with the focal length held at the prior: what the focal search changes
        pre0, _ = preprocessed(folder, PreprocessSettings(focal_search=False), progress=False)
        r0 = {"case": "7scenes redkitchen, focal held at the prior", "fallback": pre0.report["fallback"],
              "seconds": pre0.report["seconds"], "frames": pre0.report["frames"],
              "registered": pre0.report.get("registered"), "reproj_error_px": pre0.report.get("reproj_error_px"),
              "focal_px": pre0.report.get("focal_px"), "focal_true_px": 585.0 / 2, "focal_rgb_px": SEVEN_SCENES_RGB_FOCAL / 2,
              "focal_refined": pre0.report.get("focal_refined"), **score(pre0, gt_c2w, gt_depth)}
        results["real"].append(r0)
        print(json.dumps(r0))
        import gymnasium as gym

        import inspatio_gym  # noqa: F401

        for name in ("cup_pour_static.mp4", "coffee_martini_static.mp4", "highway_static.avi"):
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                env = gym.make("InspatioWorld-v0", video=str(DATA / name))
                obs, info = env.reset(seed=0)
            ok = all(np.isfinite(env.step(i % 9)[0]).all() for i in range(20))
            r = {"case": name, "fallback": env.unwrapped.world.meta["preprocess"]["fallback"],
                 "reason": env.unwrapped.world.meta["preprocess"].get("fallback_reason"),
                 "depth_source": info["depth_source"], "warned": any("parallax" in str(c.message) for c in caught),
                 "env_ran_20_steps": ok, "seconds": round(time.perf_counter() - t0, 2)}
            results["static"].append(r)
            print(json.dumps(r))
    results["focal"] = focal_cases(tmp)
    results["timing"] = timing_case(tmp)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results)
    print(f"wrote {OUT / 'REPORT.md'}")


def write_report(res: dict) -> None:
    proc = [r for r in res["procedural"] if not r["case"].startswith("pan")]
    pan = [r for r in res["procedural"] if r["case"].startswith("pan")]
    lines = ["# Preprocessing accuracy", "",
             "Made by `python benchmarks/preprocess_accuracy.py` on 2 CPU cores (default settings: 320 px long side,",
             "plane sweep at 160 px, 48 planes, 4 neighbours). Poses relative to frame 0; translation and depth use the",
             "one least-squares scale that aligns the camera centres. Targets (issue 5): rotation error <= 1 deg mean,",
             "depth delta < 1.25 >= 0.8 on procedural videos.", "",
             "## Procedural worlds rendered to MP4 (held-out seeds)", "",
             "| case | rot err mean / max (deg) | trans err (of path) | AbsRel | delta<1.25 | registered | reproj (px) | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in proc:
        lines.append(f"| {r['case']} | {r['rot_err_deg_mean']:.3f} / {r['rot_err_deg_max']:.3f} | "
                     f"{100 * r['trans_err_rel_path']:.1f}% | {r.get('absrel', float('nan')):.3f} | "
                     f"{r.get('delta125', float('nan')):.3f} | {r['registered']}/{r['frames']} | {r['reproj_error_px']} | "
                     f"{r['seconds']:.1f} |")
    if proc:
        lines += ["", f"Mean over these: rotation {np.mean([r['rot_err_deg_mean'] for r in proc]):.3f} deg, "
                      f"delta<1.25 {np.mean([r.get('delta125', 0) for r in proc]):.3f}, AbsRel "
                      f"{np.mean([r.get('absrel', 0) for r in proc]):.3f}; preprocessing "
                      f"{np.mean([r['seconds'] / r['frames'] * 100 for r in proc]):.1f} s per 100 frames."]
    lines += ["", "## Rotation-only pan (must take the fallback)", "",
              "| case | fallback | warned | parallax (px) | rot err mean (deg) |", "|---|---|---|---|---|"]
    for r in pan:
        lines.append(f"| {r['case']} | {r['fallback']} | {r['warned']} | {r['parallax_px']} | {r['rot_err_deg_mean']:.3f} |")
    if res["real"]:
        lines += ["", "## Real: 7-Scenes redkitchen (ground-truth pose and depth)", "",
                  "| case | rot err mean / max (deg) | trans err (of path) | AbsRel | delta<1.25 | delta<1.25, depth's own "
                  "scale | path / depth scale | registered | focal (true) | s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["real"]:
            lines.append(f"| {r['case']} | {r['rot_err_deg_mean']:.3f} / {r['rot_err_deg_max']:.3f} | "
                         f"{100 * r['trans_err_rel_path']:.1f}% | {r['absrel']:.3f} | {r['delta125']:.3f} | "
                         f"{r.get('delta125_median', float('nan')):.3f} | {r.get('path_to_depth_scale', float('nan')):.2f} | "
                         f"{r['registered']}/{r['frames']} | {r['focal_px']} ({r['focal_true_px']}) | {r['seconds']:.1f} |")
        hits = [r["cache_hit_s"] for r in res["real"] if "cache_hit_s" in r]
        if hits:
            lines += ["", f"Loading it again from the disk cache (hash of the 50 images included): {hits[0]:.3f} s."]
    if res["static"]:
        lines += ["", "## Static real clips (must take the fallback and run)", "",
                  "| clip | fallback | reason | warned | env ran 20 steps | s |", "|---|---|---|---|---|---|"]
        for r in res["static"]:
            lines.append(f"| {r['case']} | {r['fallback']} | {r['reason']} | {r['warned']} | {r['env_ran_20_steps']} | "
                         f"{r['seconds']} |")
    if res["real"]:
        r = res["real"][0]
        lines += ["", "## What limits the real clip", "",
                  f"- The focal length: the focal search found {r['focal_px']} px (refined: {r.get('focal_refined')}); "
                  f"the dataset's 585 at 640 px ({r['focal_true_px']} here) is its depth camera's, and the colour "
                  f"camera's is nearer 525 ({r.get('focal_rgb_px')} here, as DSAC* uses): "
                  f"{100 * (r['focal_px'] / r.get('focal_rgb_px', r['focal_true_px']) - 1):+.1f}% from it.",
                  "- The baseline: 50 frames over ~0.2 m at ~1.5-3 m depth give triangulation angles of a few degrees.",
                  "- The ground truth: 7-Scenes' depth comes from a second sensor offset by a few pixels from the colour "
                  "camera, and its poses from KinectFusion; both carry their own error.",
                  "- COLMAP on this clip is chaotic: seeds 0 / 1 / 2 register 17 / 7 / 50 frames (the pipeline tries "
                  "seeds until half the frames register, with one thread so that the result is reproducible)."]
        held = [x for x in res["real"][1:] if "prior" in x["case"]]
        if held and "path_to_depth_scale" in r:
            h = held[0]
            lines += [f"- The focal search on this clip: with it, rotation {r['rot_err_deg_mean']:.2f} deg, the camera "
                      f"path's scale {r['path_to_depth_scale']:.2f}x the depth's and delta<1.25 {r['delta125']:.3f} at the "
                      f"path's scale ({r['delta125_median']:.3f} at the depth's own); with the focal held at the prior, "
                      f"{h['rot_err_deg_mean']:.2f} deg, {h['path_to_depth_scale']:.2f}x, {h['delta125']:.3f} "
                      f"({h['delta125_median']:.3f})."
                      + (" The depth's shape barely changes: what the focal moves is how the short path's length and "
                         "the depth trade off." if abs(r["delta125_median"] - h["delta125_median"]) < 0.05 else "")]
    lines += _focal_report(res)
    lines += ["", "Previews: `depth_*.png` (top: frames; middle: estimated inverse depth; bottom: ground truth).", ""]
    (OUT / "REPORT.md").write_text("\n".join(lines))


def _focal_report(res: dict) -> list[str]:
    """The focal-search section: focal found against the truth, rotation error, registration,
    and the search's own reason for its answer (a kept prior says why)."""
    if not res.get("focal"):
        return []
    lines = ["", "## Focal length (prior: 60 deg)", "",
             "| case | true focal (px) | prior's error | focal (px) | error | refined | rot err mean / max (deg) "
             "| registered | far | why |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    band = []
    for r in res["focal"]:
        err = r["focal_px"] / r["focal_true_px"] - 1
        prior = r.get("focal_prior_px") or r["focal_true_px"]
        off = prior / r["focal_true_px"] - 1
        if r["case"].startswith("orbit") and 0.03 <= abs(off) <= 0.07:
            band.append(abs(err) <= 0.01)
        lines.append(f"| {r['case']} | {r['focal_true_px']} | {100 * off:+.1f}% | {r['focal_px']} | "
                     f"{100 * err:+.2f}% | {r['focal_refined']} | "
                     f"{r['rot_err_deg_mean']:.3f} / {r['rot_err_deg_max']:.3f} | {r['registered']}/{r['frames']} | "
                     f"{r['far_fraction']} | {r.get('focal_reason') or ''} |")
    if band:
        lines += ["", f"Orbits whose prior is 3-7% off (the issue's band): {sum(band)} of {len(band)} within 1%."]
    t = res.get("timing")
    if t:
        lines += ["", f"Timing ({t['case']}, {t['attempts']} SfM attempt(s)): {t['seconds']:.1f} s wall, "
                      f"{t['cpu_seconds']:.1f} s CPU; stages {t['timings']}."]
    return lines


if __name__ == "__main__":
    main()
