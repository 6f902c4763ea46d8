"""The warp against procedural ground truth: covered pixels match the true view."""

from __future__ import annotations

import pytest

from inspatio_gym.backends import WarpBackend
from inspatio_gym.eval import warp_accuracy
from inspatio_gym.world import procedural_world


@pytest.mark.parametrize("seed", [0, 1])
def test_warp_matches_ground_truth_on_covered_pixels(seed):
    world = procedural_world(seed=seed, num_frames=24, width=128, height=128)
    acc = warp_accuracy(world, n=12, max_move=0.25, max_turn_deg=10.0, seed=seed, backend=WarpBackend(neighbours=0))
    print(f"seed {seed}: covered-pixel PSNR {acc.psnr_covered:.2f} dB, coverage {acc.coverage:.3f}")
    assert acc.psnr_covered >= 30.0
    assert acc.coverage > 0.5


def test_warp_is_far_better_than_no_warp():
    """A control that can fail: the unwarped reference frame is much worse than the warp."""
    import numpy as np

    from inspatio_gym.eval.metrics import masked_psnr
    from inspatio_gym.eval.warp_accuracy import random_moves

    world = procedural_world(seed=0, num_frames=24, width=128, height=128)
    frames, tgt = random_moves(world, 8, 0.25, 10.0, seed=3)
    view = WarpBackend(neighbours=0).observe(world, np.arange(8), tgt, frames)
    import torch

    gt, _ = world.meta["scene"].render(torch.from_numpy(tgt), torch.from_numpy(world.K), 128, 128,
                                       torch.from_numpy(frames / world.fps).float(), 2)
    gt8 = (gt.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    assert masked_psnr(view.render, gt8, view.mask) > masked_psnr(world.frames[frames], gt8, view.mask) + 5


def test_random_moves_keep_the_camera_body_in_free_space():
    """Outside the room the truth is undefined (its rays hit nothing: black), and the env's
    collision stops a camera before any surface: the benchmark's moves respect both."""
    import numpy as np
    import torch

    from inspatio_gym.eval.warp_accuracy import BODY_RADIUS, random_moves

    world = procedural_world(seed=900000, num_frames=24, width=32, height=32)
    scene = world.meta["scene"]
    frames, tgt = random_moves(world, 32, 0.75, 10.0, seed=0)
    assert len(frames) == 32
    src = world.c2w[frames][:, :3, 3]
    for a in np.linspace(0, 1, 5):
        pts = torch.from_numpy(src + a * (tgt[:, :3, 3] - src))
        free = [bool(scene.is_free(pts[i:i + 1], BODY_RADIUS * world.scale, float(frames[i] / world.fps)))
                for i in range(32)]
        assert all(free)
    # the same draws without the check (a world without its scene takes the first round as
    # drawn) leave the room or come too close for some of them
    import dataclasses

    f0, raw = random_moves(dataclasses.replace(world, meta={}), 32, 0.75, 10.0, seed=0)
    end = torch.from_numpy(raw[:, :3, 3])
    assert not all(bool(scene.is_free(end[i:i + 1], BODY_RADIUS * world.scale, float(f0[i] / world.fps)))
                   for i in range(32))
