"""The inspatio-gym command: rollout, play, serve, preprocess, cache, train."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _rollout(args: argparse.Namespace) -> int:
    import numpy as np

    from .envs.world_env import WorldEnv
    from .io.media import contact_sheet, stack_sheets, write_mp4, write_png
    from .rollout import record, resolve_trajectory, step_labels

    backends = [b.strip() for b in args.compare.split(",")] if args.compare else [args.backend]
    bad = [b for b in backends if b not in ("warp", "star")]
    if bad or len(set(backends)) != len(backends) or (args.compare and len(backends) < 2):
        raise ValueError(f"--compare takes two or more distinct backends from warp, star (e.g. warp,star), "
                         f"got {args.compare!r}")
    traj = resolve_trajectory(args.traj) if args.traj else None
    world_options = {}
    if args.max_frames is not None:
        world_options["max_frames"] = args.max_frames
    if args.stride != 1:
        world_options["stride"] = args.stride
    if args.depth:
        world_options["depth"] = args.depth
    if args.geometry:
        world_options["geometry"] = args.geometry
    action_mode = "continuous" if traj is not None and args.action_mode == "orbit" else args.action_mode
    out = Path(args.out)
    upscale = max(1, 256 // max(args.width, args.height))
    runs, sheets = {}, []
    for backend in backends:
        env = WorldEnv(
            video=args.video,
            world=args.world,
            width=args.width,
            height=args.height,
            action_mode=action_mode,
            time_mode=args.time_mode,
            world_options=world_options,
            render_mode="rgb_array",
            backend=backend,
            backend_options={"checkpoint": args.checkpoint, "device": args.device} if backend == "star" else None,
        )
        t0 = time.perf_counter()
        rec = record(env, args.steps, args.policy, traj, args.relative_to_source, args.rotation_only, args.r_scale,
                     args.seed, debug=args.debug)
        dt = time.perf_counter() - t0
        runs[backend] = rec
        fps = env.world.fps if env.world is not None else 12.0
        suffix = f"_{backend}" if args.compare else ""
        title = f"{backend} backend | {env.world.name if env.world is not None else ''} | {args.width}x{args.height}"
        sheet = contact_sheet(rec.frames, upscale=max(1, 128 // args.width), labels=step_labels(rec), title=title)
        mp4 = write_mp4(out / f"rollout{suffix}.mp4", rec.frames, fps, upscale)
        if backend == backends[0]:
            print(f"world: {env.world}")
        print(f"{backend}: {len(rec.frames)} frames in {dt:.2f} s ({len(rec.frames) / dt:.1f} frames/s incl. world "
              f"build); collisions: {sum(i['collided'] for i in rec.infos)}, mean coverage: "
              f"{sum(i['coverage'] for i in rec.infos) / len(rec.infos):.3f}")
        print(f"wrote {mp4}")
        if args.compare:
            sheets.append(sheet)
        else:
            print(f"wrote {write_png(out / 'contact_sheet.png', sheet)}")
        if args.debug:
            print(f"wrote {write_mp4(out / f'debug{suffix}.mp4', rec.debug, fps, upscale)}")
    if args.compare:
        n = min(len(r.frames) for r in runs.values())
        side = [np.concatenate([r.frames[k] for r in runs.values()], 1) for k in range(n)]
        print(f"wrote {write_mp4(out / 'compare.mp4', side, fps, upscale)} ({' | '.join(backends)})")
        print(f"wrote {write_png(out / 'contact_sheet.png', stack_sheets(sheets))}")
    return 0


def _world_options(args: argparse.Namespace) -> dict:
    opts: dict = {}
    if getattr(args, "max_frames", None) is not None:
        opts["max_frames"] = args.max_frames
    if getattr(args, "geometry", None):
        opts["geometry"] = args.geometry
    return opts


def _play(args: argparse.Namespace) -> int:
    from .io.window import NoDisplayError
    from .viewer.play import play

    options = dict(video=args.video, world=args.world, width=args.width, height=args.height, backend=args.backend,
                   time_mode=args.time_mode, world_options=_world_options(args))
    try:
        saved = play(options, out=args.out, fps=args.fps, seed=args.seed)
    except (NoDisplayError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(saved)} recording(s)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .viewer.serve import Viewer, serve

    viewer = Viewer(video=args.video, world=args.world, width=args.width, height=args.height, lanes=args.lanes,
                    fps=args.fps, backend=args.backend, time_mode=args.time_mode)
    serve(viewer, host=args.host, port=args.port)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .eval_suite import RESULT_KEYS, NAMES, SuiteConfig, run_suite, write_report
    from .train.data.seeds import HELD_OUT_SCENES, HELD_OUT_SEEDS

    backends = tuple(b.strip() for b in args.backend.split(","))
    bad = [b for b in backends if b not in ("warp", "star")]
    if bad or not backends or len(set(backends)) != len(backends):
        raise ValueError(f"--backend takes distinct backends from warp, star (e.g. warp,star), got {args.backend!r}")
    shared = Path(args.data) / "real_multiview"
    if args.scene:
        scenes: tuple[Path, ...] = (Path(args.scene),)
        if not scenes[0].is_dir():
            raise FileNotFoundError(f"scene folder not found: {args.scene!r}")
    elif args.video:
        scenes = ()
    else:
        scenes = tuple(shared / n for n in HELD_OUT_SCENES if (shared / n).is_dir())
        if not scenes:
            print(f"(no held-out real scenes: {shared} is absent; procedural worlds only)")
    if args.quick:
        cfg = SuiteConfig(backends=backends, seeds=HELD_OUT_SEEDS[:2], scenes=scenes[:1], walk_steps=32,
                          scene_stride=4, trajectories=("x_y_circle_cycle",))
    else:
        cfg = SuiteConfig(backends=backends, seeds=HELD_OUT_SEEDS[:8], scenes=scenes, walk_steps=64,
                          trajectories=("x_y_circle_cycle", "zoom_out_in"))
    if args.video:
        cfg.video = args.video
    elif args.scene:
        cfg.seeds = cfg.seeds[:1]  # the scene is the subject; one procedural world for camera control
    res, sheets = run_suite(cfg)
    out = Path(args.out)
    for path in write_report(res, sheets, out):
        print(f"wrote {path}")
    b = res["backends"]
    print(f"{'':>24}" + "".join(f"{n:>10}" for n in b))
    for k in RESULT_KEYS:
        print(f"{NAMES[k]:>24}" + "".join(f"{b[n][k]:10.3f}" for n in b))
    print(f"in {res['seconds']:.0f} s")
    return 0


def _preprocess(args: argparse.Namespace) -> int:
    import json

    from .io.media import write_png
    from .recon.preprocess import PreprocessSettings
    from .recon.disk_cache import entry_key, preprocessed

    settings = PreprocessSettings(long_side=args.long_side, max_frames=args.max_frames, fov=args.fov)
    t0 = time.perf_counter()
    pre, hit = preprocessed(args.video, settings, progress=not args.quiet)
    dt = time.perf_counter() - t0
    r = pre.report
    print(f"{'cache hit' if hit else 'preprocessed'} in {dt:.2f} s: {r['frames']} frames at {r['size'][0]}x{r['size'][1]}, "
          f"key {entry_key(args.video, settings)}")
    if r.get("fallback"):
        print(f"  fallback: {r['fallback']} ({r.get('fallback_reason')})")
    else:
        print(f"  SfM: {r.get('registered')}/{r.get('sfm_frames')} frames registered, reprojection error "
              f"{r.get('reproj_error_px')} px, focal {r.get('focal_px')} px, {r.get('sparse_points')} points")
        print(f"  depth: {100 * r.get('depth_kept', 0):.1f}% of pixels measured, the rest filled")
    print(f"  parallax {r['parallax_px']} px, motion {r['motion_px']} px; stage seconds: {r.get('timings')}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(r, indent=1))
        d = pre.depth
        import numpy as np

        idx = np.linspace(0, len(d) - 1, min(4, len(d))).round().astype(int)
        inv = 1.0 / np.maximum(d[idx], 1e-6)
        inv = (255 * (inv - inv.min()) / max(float(np.ptp(inv)), 1e-6)).astype(np.uint8)
        import cv2

        vis = np.concatenate([np.concatenate([pre.frames[i], cv2.applyColorMap(v, cv2.COLORMAP_TURBO)[..., ::-1]], 0)
                              for i, v in zip(idx, inv)], 1)
        print(f"wrote {write_png(out / 'depth.png', vis)} and {out / 'report.json'}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from .recon.disk_cache import cache_root, clear_entries, list_entries

    folder = cache_root() / "worlds"
    if args.action == "clear":
        if not args.yes:
            what = f"{len(args.keys)} entr{'y' if len(args.keys) == 1 else 'ies'}" if args.keys else "every entry"
            if not sys.stdin.isatty():
                print(f"error: cache clear would remove {what} in {folder}; pass --yes to confirm "
                      "(no terminal to ask)", file=sys.stderr)
                return 2
            if input(f"remove {what} in {folder}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing removed")
                return 1
        n = clear_entries(args.keys or None)
        print(f"removed {n} entr{'y' if n == 1 else 'ies'} from {folder}")
        return 0
    entries = list_entries()
    print(f"{len(entries)} preprocessed world(s) in {folder}")
    for e in entries:
        print(f"  {e['key']}  {e['frames']} frames  {e['bytes'] / 1e6:.1f} MB  "
              f"{e['fallback'] or 'sfm'}  {e['video']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import load_run_config, make_stage, train

    cfg = load_run_config(args.config).override(steps=args.steps, out=args.out, seed=args.seed, batch=args.batch)
    if args.stage is not None and args.stage != cfg.stage:
        print(f"error: {args.config} configures stage {cfg.stage!r}, not {args.stage!r}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but no CUDA device is available", file=sys.stderr)
            return 2
    summary = train(make_stage(cfg, args.device), cfg, cfg.out, device=args.device, resume=not args.restart,
                    progress=not args.quiet)
    if summary.get("export"):
        print(f"{cfg.stage}: {summary['steps']} steps in {summary['seconds']:.1f} s on {summary['world_size']} "
              f"process(es); last {summary['last']}; wrote {summary['export']}")
    return 0


class _Help(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default after its help, unless there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        h = action.help or ""
        d = action.default
        if "%(default)" in h or d is None or d is False or d == argparse.SUPPRESS or not action.option_strings:
            return h
        return f"{h} (default: %(default)s)"


def _source_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--video", help="video file or image folder (default: the embedded procedural room)")
    src.add_argument("--world", help='procedural world spec, e.g. "procedural:seed=3,path=dolly"')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspatio-gym", description="Interactive worlds from one reference video.",
                                formatter_class=_Help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch and the warp's lanes (default: torch's count, lowered to 1 "
                             "step by step while that is faster, e.g. when other processes share the cores)")
    r = sub.add_parser("rollout", parents=[common], formatter_class=_Help,
                       help="walk a camera through a world and write an MP4 and a contact sheet",
                       description="Walk a camera through a world (the embedded procedural room, a procedural spec "
                                   "or your video) and write rollout.mp4 and a labelled contact_sheet.png.")
    _source_args(r)
    r.add_argument("--traj", help="trajectory file or built-in name (x_y_circle_cycle, zoom_out_in); "
                                  "replaces --policy")
    r.add_argument("--policy", choices=["scripted", "random"], default="scripted",
                   help="scripted: a fixed walk (forward, turns, strafes); random: uniform actions from --seed")
    r.add_argument("--steps", type=int, default=96, help="steps to take (frames written: steps + 1)")
    r.add_argument("--width", type=int, default=64, help="observation width in pixels")
    r.add_argument("--height", type=int, default=64, help="observation height in pixels")
    r.add_argument("--action-mode", choices=["discrete", "continuous", "orbit"], default="discrete",
                   help="the env's action space (a trajectory in orbit mode is replayed as continuous poses)")
    r.add_argument("--time-mode", choices=["play", "loop", "pingpong", "freeze"], default="loop",
                   help="how the reference time moves per step; the env's default is play, which ends the "
                        "episode at the video's last frame, so a rollout loops to keep walking")
    r.add_argument("--max-frames", type=int, default=None, help="read at most this many video frames")
    r.add_argument("--stride", type=int, default=1, help="keep every n-th video frame")
    r.add_argument("--depth", help=".npy/.npz depth (and poses) for the video")
    r.add_argument("--geometry", help='"auto" (SfM, default), "plane", or a folder of depth/poses (DA3, Pi3, plain)')
    r.add_argument("--relative-to-source", action="store_true", help="trajectory offsets ride on the source camera")
    r.add_argument("--rotation-only", action="store_true", help="trajectory rotations only (pan/tilt)")
    r.add_argument("--r-scale", type=float, default=1.0, help="multiply the trajectory's r")
    r.add_argument("--seed", type=int, default=0, help="seeds the reset and the random policy")
    r.add_argument("--backend", choices=["warp", "star"], default="warp",
                   help="warp: the geometric baseline; star: the trained world model (shipped checkpoint)")
    r.add_argument("--compare", metavar="B1,B2",
                   help="run the same actions with each backend (e.g. warp,star): rollout_<backend>.mp4 each, "
                        "compare.mp4 side by side and one contact sheet with a row per backend")
    r.add_argument("--checkpoint", help="a STAR checkpoint (.safetensors; default: the shipped one)")
    r.add_argument("--device", default="auto", help="star: cpu, cuda or auto")
    r.add_argument("--debug", action="store_true", help="also write debug.mp4: reference | render | observation")
    r.add_argument("--out", default="outputs/rollout", help="output folder")
    r.set_defaults(func=_rollout)
    pl = sub.add_parser("play", parents=[common], formatter_class=_Help,
                        help="walk through a world from the keyboard in a desktop window",
                        description="Walk through a world live in a desktop window (pygame: the [viz] extra). "
                                    "W/S or Up/Down move, A/D strafe, Left/Right or Q/E turn, R/F look up/down, "
                                    "Space starts and stops recording an MP4, Esc quits. The overlay shows "
                                    "backend, time, pose and coverage. Without a display it says so; "
                                    "`inspatio-gym serve` is the browser viewer.")
    _source_args(pl)
    pl.add_argument("--backend", choices=["warp", "star"], default="warp", help="what renders the views")
    pl.add_argument("--width", type=int, default=128, help="view width in pixels (the window scales it up)")
    pl.add_argument("--height", type=int, default=128, help="view height in pixels")
    pl.add_argument("--time-mode", choices=["play", "loop", "pingpong", "freeze"], default="loop",
                    help="how the reference video's time moves per frame (play restarts at its end)")
    pl.add_argument("--max-frames", type=int, default=None, help="read at most this many video frames")
    pl.add_argument("--geometry", help='"auto" (SfM, default), "plane", or a folder of depth/poses')
    pl.add_argument("--fps", type=float, default=15.0, help="steps (frames) per second")
    pl.add_argument("--seed", type=int, default=0, help="seeds the reset")
    pl.add_argument("--out", default="outputs/play", help="folder for the recordings")
    pl.set_defaults(func=_play)
    sv = sub.add_parser("serve", parents=[common], formatter_class=_Help,
                        help="a local web viewer: walk through a world from the browser",
                        description="A web viewer on this machine: open the printed address, walk with the keyboard, "
                                    "switch backend and time mode, record MP4s, load another video. Every open tab "
                                    "is one lane of one batched vector env.")
    _source_args(sv)
    sv.add_argument("--host", default="127.0.0.1", help="address to bind; anything but loopback exposes the "
                                                        "viewer (and the files it can load) to the network")
    sv.add_argument("--port", type=int, default=8000, help="TCP port")
    sv.add_argument("--backend", choices=["warp", "star"], default="warp", help="the backend a new tab starts with")
    sv.add_argument("--time-mode", choices=["play", "loop", "pingpong", "freeze"], default="loop",
                    help="the time mode a new tab starts with")
    sv.add_argument("--width", type=int, default=128, help="view width in pixels")
    sv.add_argument("--height", type=int, default=128, help="view height in pixels")
    sv.add_argument("--lanes", type=int, default=4, help="tabs per world, backend and time mode (lanes of one batch)")
    sv.add_argument("--fps", type=float, default=15.0, help="steps per second")
    sv.set_defaults(func=_serve)
    ev = sub.add_parser("eval", parents=[common], formatter_class=_Help,
                        help="score backends: novel views vs truth, camera control (COLMAP), consistency, speed",
                        description="Score each backend on held-out procedural worlds (exact truth), the held-out "
                                    "real multi-view scenes, a scripted 150-frame orbit whose views COLMAP "
                                    "re-estimates (RotErr, TransErr, CamMC as in the RealEstate10K tables), flow "
                                    "cycle error, loop closure, flicker and steps/s; writes results.json, "
                                    "REPORT.md, plots and contact sheets.")
    ev.add_argument("--quick", action="store_true", help="2 worlds, 1 real scene, 1 orbit: under 10 minutes on 2 cores")
    ev.add_argument("--out", default="outputs/eval", help="output folder")
    ev.add_argument("--backend", default="warp,star", help="comma-separated backends to score")
    src = ev.add_mutually_exclusive_group()
    src.add_argument("--video", help="score on your video instead (novel views against its own frames)")
    src.add_argument("--scene", help="a real multi-view scene folder (the shared data's layout)")
    ev.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                    help="the shared data folder (its real_multiview/ holds the held-out scenes)")
    ev.set_defaults(func=_eval)
    pp = sub.add_parser("preprocess", parents=[common], formatter_class=_Help,
                        help="reconstruct a video's poses and depth once, into the on-disk cache",
                        description="Reconstruct a video's camera poses and depth (SfM + plane sweep on the CPU) "
                                    "into the on-disk cache that gym.make(video=...) reads.")
    pp.add_argument("video", help="video file or image folder")
    pp.add_argument("--long-side", type=int, default=320, help="working resolution (pixels, long side)")
    pp.add_argument("--max-frames", type=int, default=300, help="longer videos are subsampled evenly")
    pp.add_argument("--fov", type=float, default=60.0, help="horizontal field of view prior (degrees)")
    pp.add_argument("--out", help="also write report.json and a depth.png preview here")
    pp.add_argument("--quiet", action="store_true", help="no progress bars")
    pp.set_defaults(func=_preprocess)
    c = sub.add_parser("cache", formatter_class=_Help, help="list or clear preprocessed worlds",
                       description="List or clear the preprocessed worlds in the cache folder's worlds/: "
                                   "$INSPATIO_GYM_CACHE, else $XDG_CACHE_HOME/inspatio_gym, else "
                                   "~/.cache/inspatio_gym (both commands print it).")
    c.add_argument("action", choices=["list", "clear"], help="list the entries, or remove them")
    c.add_argument("keys", nargs="*", help="entries to clear (default: all)")
    c.add_argument("--yes", "-y", action="store_true", help="clear without asking")
    c.set_defaults(func=_cache)
    t = sub.add_parser("train", parents=[common], formatter_class=_Help,
                       help="run (or resume) a training stage; works under torchrun",
                       description="Run or resume one training stage from a TOML config (rerun the same command "
                                   "to resume from out/state.safetensors).")
    t.add_argument("stage", nargs="?", choices=["vae", "teacher", "causal", "distill", "refine"],
                   help="the stage (checked against the config's)")
    t.add_argument("--config", required=True, help="a TOML file in configs/train/")
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train")
    t.add_argument("--steps", type=int, help="override the config's steps")
    t.add_argument("--batch", type=int, help="override the config's batch (per process)")
    t.add_argument("--seed", type=int, help="override the config's seed")
    t.add_argument("--out", help="override the config's output folder")
    t.add_argument("--restart", action="store_true", help="ignore an existing state in the output folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    steps = getattr(args, "steps", None)
    if steps is not None and steps < 1:
        print(f"error: --steps must be >= 1, got {steps}", file=sys.stderr)
        return 2
    seed = getattr(args, "seed", None)
    if seed is not None and seed < 0:
        print(f"error: --seed must be >= 0, got {seed}", file=sys.stderr)
        return 2
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            print(f"error: --threads must be >= 1, got {threads}", file=sys.stderr)
            return 2
        import torch

        torch.set_num_threads(threads)
        os.environ["INSPATIO_GYM_THREADS"] = str(threads)  # the warp's lane threads (geometry.lane_threads)
    try:
        return int(args.func(args))
    except (OSError, ValueError) as e:  # bad input, named by the message; not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are written atomically: an interrupted write leaves nothing
        print(f"\ninterrupted: {args.command} stopped; nothing half-written was left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
