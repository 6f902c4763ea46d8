"""Generator training pairs: synthetic multi-view clips and double reprojection."""

from __future__ import annotations

import numpy as np
import torch

from inspatio_gym.train.data.pairs import SyntheticPairs, double_reprojection
from inspatio_gym.train.data.seeds import HELD_OUT_SEEDS, batch_rng


def _psnr(a: torch.Tensor, b: torch.Tensor, m: torch.Tensor) -> float:
    m = m.bool().expand_as(a)
    return float(10 * torch.log10(4.0 / ((a - b)[m] ** 2).mean()))


def test_synthetic_pairs_shapes_ranges_and_seeding():
    sp = SyntheticPairs(size=32, frames=2, world_frames=8)
    b = sp.sample(2, batch_rng(0, 1))
    assert b.target.shape == b.render.shape == (2, 2, 3, 32, 32)
    assert b.reference.shape == (2, 4, 3, 32, 32)  # the reference windows: T + 2w frames
    assert b.mask.shape == (2, 2, 1, 32, 32) and set(b.mask.unique().tolist()) <= {0.0, 1.0}
    for t in (b.target, b.render, b.reference):
        assert t.min() >= -1 and t.max() <= 1
    assert (b.render.masked_select(b.mask.expand_as(b.render) == 0) == -1).all()  # holes are -1
    b2 = sp.sample(2, batch_rng(0, 1))
    assert all(torch.equal(x, y) for x, y in zip((b.target, b.render, b.mask), (b2.target, b2.render, b2.mask)))
    assert not {k[0] for k in sp._worlds} & set(HELD_OUT_SEEDS)


def test_no_offset_reproduces_the_reference_and_offsets_open_holes():
    """With no offset the target camera is the source camera: the condition covers the frame
    and equals the truth; offsets move the camera: holes appear, covered pixels stay right."""
    still = SyntheticPairs(size=48, frames=2, world_frames=8, max_move=0.0, max_turn=0.0)
    w = still.world(7, "room", "orbit")
    rng = np.random.default_rng(3)
    target, render, mask, reference, fill = still.clip(w, rng)
    assert mask.mean() > 0.97
    assert _psnr(render, target, mask) > 30 and _psnr(target, reference[1:3], torch.ones_like(mask)) > 30
    moving = SyntheticPairs(size=48, frames=2, world_frames=8, max_move=0.5, max_turn=15.0)
    cov, ps = [], []
    for k in range(4):
        target, render, mask, _, fill = moving.clip(w, np.random.default_rng(10 + k))
        cov.append(float(mask.mean()))
        # the filled image is the render where covered, and the holes hold a fill, not black
        assert torch.equal(torch.where(mask > 0, fill, render), render)
        holes = (mask < 0.5).expand_as(fill)
        if holes.any():
            assert float(fill[holes].mean()) > -0.9
        ps.append(_psnr(render, target, mask))
    assert min(cov) < 0.97 and max(cov) > 0.3  # disocclusions, not an empty frame
    assert np.mean(ps) > 22  # where the reference covers the target it is right


def test_double_reprojection_holes_come_from_the_geometry():
    w = SyntheticPairs(size=48, frames=2, world_frames=8).world(3, "room", "dolly")
    tgt = torch.from_numpy(w.frames[:2]).permute(0, 3, 1, 2).float() / 127.5 - 1
    r0, m0 = double_reprojection(w, np.arange(2), np.random.default_rng(0), max_move=0.0, max_turn=0.0)
    assert m0.mean() > 0.97 and _psnr(r0, tgt, m0) > 35
    r, m = double_reprojection(w, np.arange(2), np.random.default_rng(1), max_move=0.4, max_turn=10.0)
    assert r.shape == (2, 3, 48, 48) and 0.3 < float(m.mean()) < m0.mean()
    assert _psnr(r, tgt, m) > 24
