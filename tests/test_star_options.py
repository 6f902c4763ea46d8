"""STAR backend options used by the evaluation: cache ablations, sampler steps, covered pixels;
and the SSIM metric the evaluation reports."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from inspatio_gym.backends.star import StarBackend
from inspatio_gym.eval.metrics import ssim
from inspatio_gym.world.sources import procedural_world


def _views(**kw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    world = procedural_world(seed=1, num_frames=6, width=32, height=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = StarBackend(config="tiny", device="cpu", **kw)
    g = torch.Generator().manual_seed(0)  # a non-zero output head (the init zeroes it), the same every call
    head = b.generator.dit.head.weight
    head.data = 0.05 * torch.randn(head.shape, generator=g)
    lanes = np.array([0])
    b.allocate(1)
    b.reset(world, lanes, np.array([1]), np.array([7]))
    c2w = world.c2w[2:3].copy()
    c2w[0, :3, 3] += [0.3, 0, 0]  # off the source path: holes appear
    v = b.observe(world, lanes, c2w, np.array([2]))
    v = b.observe(world, lanes, c2w, np.array([3]))
    return v.rgb[0], v.mask[0], v.render[0]


def test_keep_covered_shows_the_render_where_it_covers_and_the_generator_elsewhere():
    rgb, mask, render = _views()
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(rgb[mask], render[mask])
    raw, _, _ = _views(keep_covered=False)
    np.testing.assert_array_equal(rgb[~mask], raw[~mask])
    assert not np.array_equal(raw[mask], render[mask])


def test_cache_ablation_and_sampler_steps_change_the_frame_and_bad_parts_are_rejected():
    full, mask, _ = _views(keep_covered=False)
    for kw in ({"context": ()}, {"context": ("reference",)}, {"sampler_steps": 1}, {"sampler_steps": 4}):
        other, _, _ = _views(keep_covered=False, **kw)
        assert not np.array_equal(other, full), kw
    with pytest.raises(ValueError, match="unknown context part"):
        StarBackend(config="tiny", context=("memory",))


def test_ssim():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:24]
    a = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1).astype(np.uint8)  # smooth ramps
    assert ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    s = ssim(a, noisy)
    assert 0 < s < 0.9
    m = np.zeros((24, 24), bool)
    m[:12] = True
    half = a.copy()
    half[12:] = noisy[12:]
    assert ssim(a, half, mask=m) > ssim(a, half) > s
    with pytest.raises(ValueError, match="equal shapes"):
        ssim(a, a[:10])


def test_the_shipped_checkpoint_loads_by_default_and_its_model_card_names_its_sha256():
    import hashlib

    import gymnasium as gym

    import inspatio_gym  # noqa: F401
    from inspatio_gym.backends.star import DEFAULT_CHECKPOINT

    assert DEFAULT_CHECKPOINT.is_file() and DEFAULT_CHECKPOINT.stat().st_size <= 30_000_000
    card = (DEFAULT_CHECKPOINT.parent / "MODEL_CARD.md").read_text()
    assert hashlib.sha256(DEFAULT_CHECKPOINT.read_bytes()).hexdigest() in card
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UntrainedModelWarning: a trained model out of the box
        b = StarBackend(device="cpu")
    assert b.trained and b.checkpoint == DEFAULT_CHECKPOINT
    env = gym.make("InspatioWorld-v0", backend="star", world="procedural:num_frames=8")
    obs, _ = env.reset(seed=0)
    frames = [obs] + [env.step(a)[0] for a in (1, 1, 4, 2)]
    env.close()
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert np.mean([f.std() for f in frames]) > 10  # a picture, not noise collapse or a flat frame


def test_bad_ablation_options_name_the_value():
    with pytest.raises(ValueError, match="'reference'"):
        StarBackend(config="tiny", context="reference")
    for bad in (True, 2.0):
        with pytest.raises(ValueError, match="sampler_steps"):
            StarBackend(config="tiny", sampler_steps=bad)


def test_a_generator_without_history_runs():
    from dataclasses import replace

    from inspatio_gym.model.config import CONFIGS
    from inspatio_gym.model.generator import StarGenerator

    cfg = replace(CONFIGS["tiny"], history=0)
    gen = StarGenerator(cfg).eval()
    world = gen.encode_reference(torch.zeros(4, 32, 32, 3, dtype=torch.uint8))
    s = gen.new_sessions(1)
    gen.reset_sessions(world, s, torch.tensor([0]), torch.tensor([1]), torch.tensor([0]))
    out = gen.step(world, s, torch.tensor([0]), torch.tensor([2]), torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32))
    assert out.shape == (1, 3, 32, 32)
