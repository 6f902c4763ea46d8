"""Peers side by side: Miniworld's OneRoom, Hallway and Maze against our env, steps/s, one run.

Miniworld (Farama) is the closest peer with a Gymnasium API and camera observations of 3D
rooms (OpenGL rendered); it is installed on demand (pip install miniworld) and rendered
with Mesa under Xvfb (installed with apt-get where that is possible). Where it cannot run
the script says why and exits 0. Each round times every env for --seconds with uniformly
random actions, alternating ours and theirs (this machine is shared and noisy), and the
medians of the rounds are compared: our single WorldEnv (warp backend) and our 16-lane
vector env, at the same 64x64 RGB observations.

    python benchmarks/peers.py [--rounds 3] [--seconds 3] [--json docs/results/peers.json] [--readme]
    python benchmarks/peers.py --readme-from docs/results/peers.json   # the table only, no measuring

--readme rewrites README's peers table (between its generated-by markers) from the run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("MiniWorld-OneRoom-v0", "MiniWorld-Hallway-v0", "MiniWorld-Maze-v0")
SIZE = 64


def ensure_miniworld() -> str | None:
    """None when Miniworld can run here (installed, a display); else why not."""
    if importlib.util.find_spec("miniworld") is None:
        print("installing miniworld (pip install miniworld) ...", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "miniworld"], capture_output=True, text=True)
        if r.returncode != 0:
            return f"pip install miniworld failed: {r.stderr.strip()[-300:]}"
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run") is None:
        if shutil.which("apt-get") and os.geteuid() == 0:
            print("installing Xvfb and Mesa (apt-get install xvfb libgl1-mesa-dri) ...", flush=True)
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "xvfb", "libgl1-mesa-dri", "libglu1-mesa"],
                           capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if shutil.which("xvfb-run") is None:
            return "no display and no Xvfb (apt-get install xvfb libgl1-mesa-dri) to render Miniworld's OpenGL"
    return None


def rate(env, seconds: float, vector: bool = False) -> float:
    """Steps per second (env steps: lanes x batched steps for a vector env) with random actions."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        n += env.num_envs if vector else 1
        if not vector and (term or trunc):
            env.reset()
    return n / (time.perf_counter() - t0)


def measure(rounds: int, seconds: float) -> dict:
    import gymnasium as gym
    import miniworld  # noqa: F401  (registers its envs)

    import inspatio_gym  # noqa: F401

    envs = {"inspatio WorldEnv (warp)": (gym.make("InspatioWorld-v0", width=SIZE, height=SIZE), False),
            "inspatio vector env x16 (warp)": (gym.make_vec("InspatioWorld-v0", num_envs=16, width=SIZE, height=SIZE,
                                                            vectorization_mode="vector_entry_point"), True)}
    for pid in PEERS:
        envs[pid] = (gym.make(pid, obs_width=SIZE, obs_height=SIZE), False)
    for k, (env, vec) in envs.items():
        env.reset(seed=0)
        env.action_space.seed(0)
        rate(env, 0.5, vec)  # warm-up: kernels compiled, GL contexts made
    res: dict[str, list[float]] = {k: [] for k in envs}
    for r in range(rounds):
        for k, (env, vec) in envs.items():  # ours and theirs alternate within every round
            res[k].append(rate(env, seconds, vec))
        print(f"round {r + 1}/{rounds} done", flush=True)
    return {k: round(statistics.median(v), 1) for k, v in res.items()}


def table(res: dict) -> str:
    ours = res["inspatio WorldEnv (warp)"]
    lines = [f"| env ({SIZE}x{SIZE} RGB, random actions) | steps/s | ours (WorldEnv) / it |", "|---|---|---|"]
    for k, v in res.items():
        lines.append(f"| {k} | {v:,.0f} | {ours / v:.2f} |")
    return "\n".join(lines)


def write_readme(res: dict, readme: Path = ROOT / "README.md") -> None:
    from inspatio_gym.io.atomic import replace_generated_blocks

    replace_generated_blocks(readme, "benchmarks/peers.py", {"peers": table(res)})
    print(f"rewrote the peers table in {readme}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--readme", action="store_true", help="rewrite README's peers table from this run")
    p.add_argument("--readme-from", type=Path, default=None, help="rewrite README's peers table from a results file")
    p.add_argument("--under-xvfb", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.readme_from is not None:
        write_readme(json.loads(args.readme_from.read_text())["steps_per_s"])
        return
    why = ensure_miniworld()
    if why:
        print(f"peers skipped: {why}")
        return
    if not os.environ.get("DISPLAY") and not args.under_xvfb:  # run again inside a virtual display
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, __file__, "--under-xvfb", *sys.argv[1:]]
        sys.exit(subprocess.call(cmd))
    res = measure(args.rounds, args.seconds)
    print(table(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size": SIZE, "rounds": args.rounds, "seconds": args.seconds,
                                         "steps_per_s": res}, indent=1))
        print(f"wrote {args.json}")
    if args.readme:
        write_readme(res)


if __name__ == "__main__":
    main()
