"""The training-time rollout (train/pipeline/unroll.py) computes what the inference generator does."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from inspatio_gym.model.config import CONFIGS
from inspatio_gym.model.generator import StarGenerator
from inspatio_gym.model.sampler import SessionNoise
from inspatio_gym.train.data.pairs import window_frames
from inspatio_gym.train.pipeline.unroll import Unroll


def _setup(T: int = 3):
    torch.manual_seed(0)
    cfg = CONFIGS["tiny"]
    gen = StarGenerator(cfg).eval()
    for p in gen.dit.parameters():  # non-trivial heads (the init zeroes the output layer)
        p.data.add_(0.05 * torch.randn_like(p))
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (10, cfg.height, cfg.width, 3), dtype=np.uint8))
    render = torch.rand(2, T, 3, cfg.height, cfg.width) * 2 - 1
    mask = (torch.rand(2, T, 1, cfg.height, cfg.width) > 0.3).float()
    return cfg, gen, frames, render, mask


def test_unroll_generate_equals_the_inference_generator():
    T = 3
    cfg, gen, frames, render, mask = _setup(T)
    world = gen.encode_reference(frames)
    sessions = gen.new_sessions(2)
    lanes, start, seeds = torch.tensor([0, 1]), torch.tensor([2, 5]), torch.tensor([11, 12])
    gen.reset_sessions(world, sessions, lanes, start, seeds)
    want = []
    for t in range(T):
        gen.step(world, sessions, lanes, start + t, render[:, t], mask[:, t])
        want.append(gen.last_latent)
    want = torch.stack(want, 1)

    w = cfg.ref_window
    ref = torch.stack([world.latents[window_frames(np.arange(s, s + T), w, 10)] for s in start.tolist()])
    with torch.no_grad():
        z_render = gen.vae.encode(render)
    m = F.adaptive_avg_pool2d(mask.flatten(0, 1), cfg.latent_hw).unflatten(0, (2, T))
    noise = SessionNoise(2)
    noise.seed(lanes, seeds)
    shape = (cfg.vae.latent_channels, *cfg.latent_hw)
    got = Unroll(gen.dit, cfg).generate(ref, z_render, m, lambda t, k: noise.draw(lanes, shape), cfg.sampler.sigmas())
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)


def test_unroll_gradients_flow_only_through_the_exit_step_and_predict_matches_generate():
    T = 2
    cfg, gen, frames, render, mask = _setup(T)
    u = Unroll(gen.dit, cfg)
    ref = torch.randn(2, T + 2 * cfg.ref_window, cfg.vae.latent_channels, *cfg.latent_hw)
    rl = torch.randn(2, T, cfg.vae.latent_channels, *cfg.latent_hw)
    m = torch.rand(2, T, 1, *cfg.latent_hw)
    eps = torch.randn(T, 2, 2, cfg.vae.latent_channels, *cfg.latent_hw)
    sig = cfg.sampler.sigmas()
    x = u.generate(ref, rl, m, lambda t, k: eps[t, k], sig, exit_step=0, grad=True)
    assert x.requires_grad
    x.square().mean().backward()
    assert gen.dit.head.weight.grad is not None and gen.dit.head.weight.grad.abs().sum() > 0
    # one step from pure noise under teacher forcing on the generated history is the same
    with torch.no_grad():
        (pred,) = u.predict(ref, rl, m, x.detach(), [(sig[0], eps[:, 0].transpose(0, 1))])
    torch.testing.assert_close(pred, x.detach(), atol=2e-5, rtol=1e-5)


def test_forward_clip_with_frame_mask_equals_per_frame_passes():
    """A clip pass where each frame attends only to itself is F independent frame passes,
    each at its own noise level and slot: per-token modulation and per-frame RoPE are right."""
    cfg, gen, *_ = _setup()
    dit = gen.dit
    F_ = 3
    frames = torch.randn(2, F_, dit.in_ch, *cfg.latent_hw)
    sigma = torch.rand(2, F_)
    slots = torch.tensor([4, 0, 2])
    got = dit.forward_clip(frames, sigma, slots, frame_mask=torch.eye(F_, dtype=torch.bool))
    for f in range(F_):
        want, _ = dit(frames[:, f], sigma[:, f], int(slots[f]), None)
        torch.testing.assert_close(got[:, f], want, atol=1e-5, rtol=1e-5)
    full = dit.forward_clip(frames, sigma, slots)  # bidirectional: frames see each other
    assert not torch.allclose(full, got)


def test_the_rollout_is_training_code_not_model_code():
    """The model package is inference only; the differentiable rollout lives with training."""
    import importlib.util
    from pathlib import Path

    import inspatio_gym.model

    assert not (Path(inspatio_gym.model.__file__).parent / "unroll.py").exists()
    assert importlib.util.find_spec("inspatio_gym.model.unroll") is None
