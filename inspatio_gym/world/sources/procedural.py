"""Procedural worlds: a rendered scene with exact depth and poses, and the spec strings naming one."""

from __future__ import annotations

from typing import Any

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
