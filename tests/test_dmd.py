"""The DMD gradient and loss against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from inspatio_gym.train.pipeline.dmd import dmd_gradient, dmd_loss, jdmd_gradient, shifted_sigma


def test_dmd_gradient_hand_computed():
    # one sample of 4 values: x = [1, 2, 3, 4], real prediction = [0, 2, 3, 6], fake = [1, 1, 3, 5]
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    real = torch.tensor([[0.0, 2.0, 3.0, 6.0]])
    fake = torch.tensor([[1.0, 1.0, 3.0, 5.0]])
    # mean|x - real| = (1 + 0 + 0 + 2) / 4 = 0.75; fake - real = [1, -1, 0, -1]
    g = dmd_gradient(x, real, fake)
    torch.testing.assert_close(g, torch.tensor([[1 / 0.75, -1 / 0.75, 0.0, -1 / 0.75]]))
    # per-sample normalisation: a second sample with its own scale
    x2 = torch.cat([x, 2 * x])
    g2 = dmd_gradient(x2, torch.cat([real, 2 * real]), torch.cat([fake, 2 * fake]))
    torch.testing.assert_close(g2[1], g[0])  # scaling a sample scales both differences alike


def test_dmd_loss_gradient_is_g_over_numel():
    x = torch.randn(2, 3, 4, requires_grad=True)
    g = torch.randn(2, 3, 4)
    dmd_loss(x, g).backward()
    torch.testing.assert_close(x.grad, g / x.numel())


def test_jdmd_is_the_weighted_sum_and_degenerate_inputs_are_finite():
    x, fake = torch.randn(3, 5), torch.randn(3, 5)
    syn, real = torch.randn(3, 5), torch.randn(3, 5)
    g, mags = jdmd_gradient(x, fake, {"syn": (syn, 0.7), "real": (real, 0.3)})
    torch.testing.assert_close(g, 0.7 * dmd_gradient(x, syn, fake) + 0.3 * dmd_gradient(x, real, fake))
    assert set(mags) == {"syn", "real"}
    assert torch.isfinite(dmd_gradient(x, x, fake)).all()  # x equals the real prediction: no division by 0
    with pytest.raises(ValueError, match="at least one teacher"):
        jdmd_gradient(x, fake, {})


def test_shifted_sigma_matches_the_sampler_levels():
    torch.testing.assert_close(shifted_sigma(torch.tensor([0.0, 1.0]), 5.0), torch.tensor([0.0, 1.0]))
    # the sampler's 4 levels are raw levels [1, .75, .5, .25] shifted by 5
    torch.testing.assert_close(shifted_sigma(torch.tensor([1.0, 0.75, 0.5, 0.25]), 5.0),
                               torch.tensor([1.0, 0.9375, 5 / 6, 0.625]))
    from inspatio_gym.model.config import SamplerConfig

    for steps in (1, 2, 4):  # one formula for the sampler and the distillation's noise levels
        raw = torch.tensor([1.0 - i / steps for i in range(steps)], dtype=torch.float64)
        assert shifted_sigma(raw, 5.0).tolist() == pytest.approx(SamplerConfig(steps=steps).sigmas())
