"""How well the warp predicts the true view: procedural worlds give the answer exactly.

For random camera moves inside the leash, the time-aligned reference frame is splatted into
the target camera and compared with the ground-truth render there, on covered pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..backends.warp import WarpBackend
from ..geometry.camera import rot_x, rot_y
from ..world.reference import ReferenceWorld
from .metrics import masked_psnr

__all__ = ["WarpAccuracy", "random_moves", "warp_accuracy"]


@dataclass
class WarpAccuracy:
    psnr_covered: float  # dB over covered pixels of all views
    psnr_full: float  # dB over all pixels after inpainting
    coverage: float  # mean covered fraction
    views: int


def random_moves(world: ReferenceWorld, n: int, max_move: float, max_turn_deg: float, seed: int) -> tuple:
    """n (frame, target c2w) pairs: each a source pose moved up to max_move x scale and turned.

    In a procedural world a move is kept only if the camera's body (BODY_RADIUS x scale)
    stays in free space all along it, at that frame's time: the env's collision would stop
    any other, and outside the room the truth is undefined (its rays hit nothing: black).
    Rejected moves are drawn again from the same generator until n are kept.
    """
    rng = np.random.default_rng(seed)
    scene = world.meta.get("scene")
    frames_out, tgt_out = [], []
    for _ in range(_MAX_DRAWS):
        frames = rng.integers(0, world.num_frames, n)
        d = rng.normal(size=(n, 3))
        d *= (rng.uniform(0, 1, n) * max_move * world.scale / np.linalg.norm(d, axis=1))[:, None]
        yaw, pitch = np.radians(rng.uniform(-max_turn_deg, max_turn_deg, (2, n)))
        src = world.c2w[frames]
        tgt = src.copy()
        tgt[:, :3, :3] = src[:, :3, :3] @ rot_y(yaw) @ rot_x(pitch)
        tgt[:, :3, 3] += np.einsum("nij,nj->ni", src[:, :3, :3], d)
        if scene is None:
            return frames, tgt
        ok = _free_path(scene, src[:, :3, 3], tgt[:, :3, 3], frames / world.fps, BODY_RADIUS * world.scale)
        frames_out.append(frames[ok])
        tgt_out.append(tgt[ok])
        if sum(len(f) for f in frames_out) >= n:
            return np.concatenate(frames_out)[:n], np.concatenate(tgt_out)[:n]
    raise ValueError(f"world {world.name!r}: fewer than {n} moves of up to {max_move} x scale stay in free space "
                     f"in {_MAX_DRAWS} draws")


#: the camera body's radius in scene scales (the env's default collision radius, control.limits)
BODY_RADIUS = 0.06
_MAX_DRAWS = 100
_PATH_SAMPLES = 16


def _free_path(scene, start: np.ndarray, end: np.ndarray, t: np.ndarray, radius: float) -> np.ndarray:
    """bool [n]: the ball of radius stays in free space along each segment start -> end
    (sampled at _PATH_SAMPLES points, ends included) at times t [n]; one oracle call per time."""
    a = np.linspace(0.0, 1.0, _PATH_SAMPLES)
    pts = start[:, None] + a[None, :, None] * (end - start)[:, None]  # [n, S, 3]
    ok = np.empty(len(start), bool)
    for ti in np.unique(t):
        sel = t == ti
        free = scene.is_free(torch.from_numpy(pts[sel].reshape(-1, 3)), radius, float(ti)).numpy()
        ok[sel] = free.reshape(-1, _PATH_SAMPLES).all(1)
    return ok


def warp_accuracy(world: ReferenceWorld, n: int = 16, max_move: float = 0.25, max_turn_deg: float = 10.0,
                  seed: int = 0, backend: WarpBackend | None = None, supersample: int = 2) -> WarpAccuracy:
    """PSNR of the warp backend against the ground-truth render of a procedural world."""
    scene = world.meta.get("scene")
    if scene is None:
        raise ValueError(f"world {world.name!r} has no procedural scene: ground truth unavailable")
    backend = backend or WarpBackend()
    frames, tgt = random_moves(world, n, max_move, max_turn_deg, seed)
    view = backend.observe(world, np.arange(n), tgt, frames)
    t = torch.from_numpy(frames / world.fps).to(torch.float32)
    gt, _ = scene.render(torch.from_numpy(tgt), torch.from_numpy(world.K), world.height, world.width, t, supersample)
    gt8 = (gt.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    return WarpAccuracy(
        psnr_covered=masked_psnr(view.render, gt8, view.mask),
        psnr_full=masked_psnr(view.rgb, gt8, np.ones_like(view.mask)),
        coverage=float(view.mask.mean()),
        views=n,
    )
