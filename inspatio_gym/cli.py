"""The inspatio-gym command: rollout (more subcommands arrive with their issues)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _rollout(args: argparse.Namespace) -> int:
    from .envs.world_env import WorldEnv
    from .media import contact_sheet, write_mp4, write_png
    from .rollout import record, resolve_trajectory

    traj = resolve_trajectory(args.traj) if args.traj else None
    world_options = {}
    if args.max_frames is not None:
        world_options["max_frames"] = args.max_frames
    if args.stride != 1:
        world_options["stride"] = args.stride
    if args.depth:
        world_options["depth"] = args.depth
    action_mode = "continuous" if traj is not None and args.action_mode == "orbit" else args.action_mode
    env = WorldEnv(
        video=args.video,
        world=args.world,
        width=args.width,
        height=args.height,
        action_mode=action_mode,
        time_mode=args.time_mode,
        world_options=world_options,
        render_mode="rgb_array",
    )
    t0 = time.perf_counter()
    rec = record(env, args.steps, args.policy, traj, args.relative_to_source, args.rotation_only, args.r_scale,
                 args.seed, debug=args.debug)
    dt = time.perf_counter() - t0
    out = Path(args.out)
    fps = env.world.fps if env.world is not None else 12.0
    upscale = max(1, 256 // max(args.width, args.height))
    mp4 = write_mp4(out / "rollout.mp4", rec.frames, fps, upscale)
    png = write_png(out / "contact_sheet.png", contact_sheet(rec.frames, upscale=max(1, 128 // args.width)))
    print(f"world: {env.world}")
    print(f"{len(rec.frames)} frames in {dt:.2f} s ({len(rec.frames) / dt:.1f} frames/s incl. world build); "
          f"collisions: {sum(i['collided'] for i in rec.infos)}, mean coverage: "
          f"{sum(i['coverage'] for i in rec.infos) / len(rec.infos):.3f}")
    print(f"wrote {mp4}")
    print(f"wrote {png}")
    if args.debug:
        dbg = write_mp4(out / "debug.mp4", rec.debug, fps, upscale)
        print(f"wrote {dbg}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspatio-gym", description="Interactive worlds from one reference video.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rollout", help="walk a camera through a world and write an MP4 and a contact sheet")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--video", help="video file or image folder (default: the embedded procedural room)")
    src.add_argument("--world", help='procedural world spec, e.g. "procedural:seed=3,path=dolly"')
    r.add_argument("--traj", help="trajectory file or built-in name (x_y_circle_cycle, zoom_out_in)")
    r.add_argument("--policy", choices=["scripted", "random"], default="scripted")
    r.add_argument("--steps", type=int, default=96)
    r.add_argument("--width", type=int, default=64)
    r.add_argument("--height", type=int, default=64)
    r.add_argument("--action-mode", choices=["discrete", "continuous", "orbit"], default="discrete")
    r.add_argument("--time-mode", choices=["play", "loop", "pingpong", "freeze"], default="loop")
    r.add_argument("--max-frames", type=int, default=None, help="read at most this many video frames")
    r.add_argument("--stride", type=int, default=1, help="keep every n-th video frame")
    r.add_argument("--depth", help=".npy/.npz depth (and poses) for the video")
    r.add_argument("--relative-to-source", action="store_true", help="trajectory offsets ride on the source camera")
    r.add_argument("--rotation-only", action="store_true", help="trajectory rotations only (pan/tilt)")
    r.add_argument("--r-scale", type=float, default=1.0, help="multiply the trajectory's r")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--debug", action="store_true", help="also write debug.mp4: reference | render | observation")
    r.add_argument("--out", default="outputs/rollout", help="output folder")
    r.set_defaults(func=_rollout)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 1) < 1:
        print("error: --steps must be >= 1", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
