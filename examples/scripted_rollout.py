"""Run a trajectory file (or a scripted walk) through a world and write an MP4.

    python examples/scripted_rollout.py                          # orbit file, default world
    python examples/scripted_rollout.py --video clip.mp4 --traj zoom_out_in --relative-to-source
"""

from __future__ import annotations

import argparse

from inspatio_gym import WorldEnv
from inspatio_gym.io.media import contact_sheet, write_mp4, write_png
from inspatio_gym.rollout import record, resolve_trajectory, step_labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=None, help="video file or image folder (default: procedural room)")
    p.add_argument("--traj", default="x_y_circle_cycle", help="trajectory file or built-in name")
    p.add_argument("--relative-to-source", action="store_true")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--out", default="outputs/scripted_rollout")
    args = p.parse_args()

    env = WorldEnv(video=args.video, width=args.size, height=args.size, action_mode="continuous")
    rec = record(env, steps=10_000, trajectory=resolve_trajectory(args.traj),
                 relative_to_source=args.relative_to_source, debug=True)
    fps = env.world.fps if env.world else 12
    print("wrote", write_mp4(f"{args.out}/rollout.mp4", rec.frames, fps, upscale=2))
    print("wrote", write_mp4(f"{args.out}/debug.mp4", rec.debug, fps, upscale=2))
    sheet = contact_sheet(rec.frames, upscale=1, labels=step_labels(rec),
                          title=f"warp backend | {env.world.name if env.world else ''} | trajectory {args.traj}")
    print("wrote", write_png(f"{args.out}/contact_sheet.png", sheet))


if __name__ == "__main__":
    main()
