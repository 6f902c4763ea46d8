"""Procedural worlds: a rendered scene with exact depth and poses, and the spec strings naming one."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...geometry.camera import intrinsics_from_fov
from ...scenes import make_scene
from ..reference import ReferenceWorld

__all__ = ["procedural_world", "is_procedural_spec", "parse_procedural_spec"]


def procedural_world(
    seed: int = 0,
    kind: str = "room",
    path: str = "pan",
    num_frames: int = 48,
    width: int = 64,
    height: int = 64,
    fov: float = 60.0,
    fps: float = 12.0,
    supersample: int = 2,
) -> ReferenceWorld:
    """A reference video of a procedural scene with exact depth and poses."""
    _check_options(seed, num_frames, fov, fps, supersample)
    scene = make_scene(seed, kind)
    c2w = scene.source_path(path, num_frames).to(torch.float64)
    K = intrinsics_from_fov(width, height, fov)
    t = torch.arange(num_frames, dtype=torch.float32) / fps
    rgbs, depths = [], []
    for i in range(0, num_frames, 16):  # chunks bound the memory at large sizes
        rgb, depth = scene.render(c2w[i : i + 16], torch.from_numpy(K), height, width, t[i : i + 16], supersample)
        rgbs.append((rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8))
        depths.append(depth)
    return ReferenceWorld(
        frames=torch.cat(rgbs).numpy(),
        depth=torch.cat(depths).numpy(),
        K=K,
        c2w=c2w.numpy(),
        fps=fps,
        name=f"procedural:{kind}:seed={seed}:path={path}",
        depth_source="ground_truth",
        meta={"scene": scene, "seed": seed, "kind": kind, "path": path},
    )


def _check_options(seed: Any, num_frames: Any, fov: Any, fps: Any, supersample: Any) -> None:
    """Each option named with its bad value (a string fov used to fail as "'<' not supported
    between instances of 'float' and 'str'", a float num_frames to be taken)."""
    def integer(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, np.integer))

    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and bool(np.isfinite(v))

    if not integer(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    for name, v in (("num_frames", num_frames), ("supersample", supersample)):
        if not integer(v) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not (number(fov) and 0 < fov < 180):
        raise ValueError(f"fov must be a number of degrees in (0, 180), got {fov!r}")
    if not (number(fps) and fps > 0):
        raise ValueError(f"fps must be a number > 0, got {fps!r}")


def is_procedural_spec(source: Any) -> bool:
    """True for the strings "procedural" and "procedural:key=value,...", never for a Path."""
    return isinstance(source, str) and (source == "procedural" or source.startswith("procedural:"))


def parse_procedural_spec(spec: str) -> dict[str, Any]:
    """procedural_world keywords from "procedural:seed=3,path=dolly,kind=room"."""
    kw: dict[str, Any] = {}
    for item in filter(None, spec.partition(":")[2].split(",")):
        key, _, val = item.partition("=")
        key, val = key.strip(), val.strip()
        if key not in ("seed", "kind", "path", "num_frames"):
            raise ValueError(f"unknown procedural world option {key!r} in {spec!r}")
        if key in ("seed", "num_frames"):
            try:
                kw[key] = int(val)
            except ValueError:
                raise ValueError(f"procedural world option {key}={val!r} in {spec!r} must be an integer") from None
        else:
            kw[key] = val
    return kw
