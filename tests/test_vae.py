"""Tiny causal VAE: shapes, causality, streaming == batched, standardisation, training, FLOPs."""

from __future__ import annotations


import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from inspatio_gym.model.config import VAEConfig
from inspatio_gym.model.vae import MemBlock, TinyVAE, Upsample2x, flops_per_frame, state_assign, state_select

def _vae(spatial: int = 4, temporal: int = 1, seed: int = 0, **kw) -> TinyVAE:
    torch.manual_seed(seed)
    chans = (8, 16) if spatial == 4 else (8, 12, 16)
    cfg = VAEConfig(latent_channels=4, spatial_compression=spatial, temporal_compression=temporal, channels=chans, **kw)
    return TinyVAE(cfg).eval()


def _video(n: int = 1, t: int = 4, h: int = 32, w: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, 3, h, w, generator=g) * 2 - 1


def _smooth(n: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images: bilinear upsampling of a coarse random grid, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n * t, 3, 4, 4, generator=g) * 2 - 1
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True).reshape(n, t, 3, h, w)


# ------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("spatial", [4, 8])
@pytest.mark.parametrize("temporal", [1, 4])
def test_shapes(spatial, temporal):
    vae = _vae(spatial, temporal)
    x = _video(n=2, t=8, h=32, w=24)
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
    assert z.shape == (2, 8 // temporal, 4, 32 // spatial, 24 // spatial)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1
    n_stages = {4: 2, 8: 3}[spatial]
    assert sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in vae.encoder) == n_stages
    assert sum(isinstance(m, Upsample2x) for m in vae.decoder) == n_stages


def test_temporal4_groups_frames():
    """With temporal 4, latent k depends on frames 4k..4k+3 only (and earlier via memory)."""
    vae = _vae(temporal=4)
    x = _video(t=8)
    x2 = x.clone()
    x2[:, 5] += 0.5
    with torch.no_grad():
        z, z2 = vae.encode(x), vae.encode(x2)
    torch.testing.assert_close(z[:, 0], z2[:, 0], atol=1e-6, rtol=0)
    assert (z[:, 1] - z2[:, 1]).abs().max() > 1e-4
    with torch.no_grad():
        y, y2 = vae.decode(z), vae.decode(z.clone().index_add_(1, torch.tensor([1]), torch.ones_like(z[:, :1])))
    torch.testing.assert_close(y[:, :4], y2[:, :4], atol=1e-6, rtol=0)
    assert (y[:, 4:] - y2[:, 4:]).abs().amax(dim=(0, 2, 3, 4)).min() > 1e-5  # all 4 grown frames move


# --------------------------------------------------------------------- causality
@pytest.mark.parametrize("t_change", [1, 2])
def test_causality(t_change):
    vae = _vae()
    x = _video(t=4)
    x2 = x.clone()
    x2[:, t_change] = -x2[:, t_change]
    with torch.no_grad():
        z, z2 = vae.encode(x), vae.encode(x2)
        y, y2 = vae.decode(z), vae.decode(z2)
    for a, b in ((z, z2), (y, y2)):
        torch.testing.assert_close(a[:, :t_change], b[:, :t_change], atol=1e-6, rtol=0)
        assert (a[:, t_change] - b[:, t_change]).abs().max() > 1e-4
        # the memory carries the change one frame forward even where the input is equal
        assert (a[:, t_change + 1] - b[:, t_change + 1]).abs().max() > 1e-6
    # decode alone: changing latent t leaves earlier decoded frames untouched
    z3 = z.clone()
    z3[:, t_change] += 1.0
    with torch.no_grad():
        y3 = vae.decode(z3)
    torch.testing.assert_close(y[:, :t_change], y3[:, :t_change], atol=1e-6, rtol=0)
    assert (y[:, t_change] - y3[:, t_change]).abs().max() > 1e-4


def test_upsample_is_nearest():
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(Upsample2x()(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_memblock_sequence_equals_step_and_uses_previous_input():
    torch.manual_seed(0)
    blk = MemBlock(5, 7)  # c_in != c_out: exercises the 1x1 skip
    x = torch.randn(2, 3, 5, 6, 6)
    seq = blk(x)
    mem = None
    for t in range(3):
        y, mem = blk.step(x[:, t], mem)
        torch.testing.assert_close(y, seq[:, t], atol=1e-5, rtol=0)
        assert torch.equal(mem, x[:, t])
    # explicit memory for frame 0 equals streaming on after the previous frame
    torch.testing.assert_close(blk(x[:, 1:], mem=x[:, 0]), seq[:, 1:], atol=1e-5, rtol=0)
    # the memory matters (otherwise streaming == batched would be trivial)
    assert (blk.step(x[:, 1], None)[0] - seq[:, 1]).abs().max() > 1e-4


# --------------------------------------------------------------------- streaming
@pytest.mark.parametrize("spatial", [4, 8])
def test_streaming_equals_batched(spatial):
    vae = _vae(spatial)
    vae.latent_mean.fill_(0.3)
    vae.latent_std.fill_(2.0)
    x = _video(n=2, t=5)
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
        es = ds = None
        for t in range(x.shape[1]):
            zt, es = vae.encode_step(x[:, t], es)
            yt, ds = vae.decode_step(zt, ds)
            torch.testing.assert_close(zt, z[:, t], atol=1e-5, rtol=0)
            torch.testing.assert_close(yt, y[:, t], atol=1e-5, rtol=0)
    assert len(es) == vae._n_enc_mem and len(ds) == vae._n_dec_mem
    assert all(s.shape[0] == 2 for s in es + ds)


def test_zero_state_equals_fresh_stream_and_lane_reset():
    vae = _vae()
    x = _video(n=2, t=3)
    with torch.no_grad():
        es = ds = None
        for t in range(2):
            zt, es = vae.encode_step(x[:, t], es)
            yt, ds = vae.decode_step(zt, ds)
        z_fresh, _ = vae.encode_step(x[:, 2], None)
        y_fresh, _ = vae.decode_step(z_fresh, None)
        z_zero, _ = vae.encode_step(x[:, 2], [torch.zeros_like(s) for s in es])
        y_zero, _ = vae.decode_step(z_zero, [torch.zeros_like(s) for s in ds])
        z_zero2, _ = vae.encode_step(x[:, 2], vae.zero_state("encode", 2, 32, 32))
        torch.testing.assert_close(z_zero, z_fresh, atol=1e-6, rtol=0)
        torch.testing.assert_close(z_zero2, z_fresh, atol=1e-6, rtol=0)
        torch.testing.assert_close(y_zero, y_fresh, atol=1e-6, rtol=0)
        # reset lane 0 only: lane 0 == fresh stream, lane 1 continues
        z_cont, _ = vae.encode_step(x[:, 2], es)
        z_mix, _ = vae.encode_step(x[:, 2], state_assign(es, 0, None))
        torch.testing.assert_close(z_mix[0], z_fresh[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(z_mix[1], z_cont[1], atol=1e-6, rtol=0)
        assert (z_cont[0] - z_fresh[0]).abs().max() > 1e-4
        # select / assign round-trip a lane between streams
        lane1 = state_select(es, 1)
        assert all(s.shape[0] == 1 for s in lane1)
        moved = state_assign([torch.zeros_like(s) for s in es], 0, lane1)
        z_moved, _ = vae.encode_step(x[1:, 2].expand(2, -1, -1, -1), moved)  # lane 1's frame in both lanes
        torch.testing.assert_close(z_moved[0], z_cont[1], atol=1e-5, rtol=0)
        torch.testing.assert_close(z_moved[1], z_fresh[1], atol=1e-6, rtol=0)


def test_streaming_needs_temporal_1():
    vae = _vae(temporal=4)
    with pytest.raises(ValueError, match="temporal_compression"):
        vae.encode_step(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="temporal_compression"):
        vae.decode_step(torch.zeros(1, 4, 8, 8))


# --------------------------------------------------------------- standardisation
def test_latent_standardisation_round_trip():
    vae = _vae()
    x = _smooth(2, 4, 32, 32)
    with torch.no_grad():
        y_before = vae.decode(vae.encode(x))
        raw = vae.encode_raw(x)
        vae.fit_latent_stats(raw)
        z = vae.encode(x)
        y_after = vae.decode(z)
    assert not torch.allclose(vae.latent_mean, torch.zeros(4), atol=1e-3)
    assert not torch.allclose(vae.latent_std, torch.ones(4), atol=1e-3)
    per_c = z.movedim(2, 0).reshape(4, -1)
    torch.testing.assert_close(per_c.mean(1), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_c.std(1, unbiased=False), torch.ones(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(y_after, y_before, atol=1e-5, rtol=0)
    # the stats are buffers, so they travel with the state dict
    sd = vae.state_dict()
    assert "latent_mean" in sd and "latent_std" in sd


# ---------------------------------------------------------------------- training
def test_adam_reduces_reconstruction_loss():
    vae = _vae().train()
    x = _smooth(2, 2, 32, 32)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = (vae(x) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# ------------------------------------------------------------------------- flops
def _hook_flops(vae: TinyVAE, fn, arg) -> float:
    total = [0]

    def hook(m: nn.Conv2d, inp, out) -> None:
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * m.in_channels * m.out_channels * k * out.shape[0] * out.shape[2] * out.shape[3] // m.groups

    hs = [m.register_forward_hook(hook) for m in vae.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            fn(arg)
    finally:
        for h in hs:
            h.remove()
    return total[0]


@pytest.mark.parametrize("spatial,temporal,blocks", [(4, 1, 1), (8, 1, 2), (4, 4, 1), (8, 4, 1)])
def test_flops_match_hook_count(spatial, temporal, blocks):
    vae = _vae(spatial, temporal, blocks_per_stage=blocks)
    t, h, w = 4, 32, 24
    x = _video(t=t, h=h, w=w)
    with torch.no_grad():
        z = vae.encode(x)
    enc = _hook_flops(vae, vae.encode, x) / t
    dec = _hook_flops(vae, vae.decode, z) / t
    f = flops_per_frame(vae.config, h, w)
    assert f["encode"] == pytest.approx(enc, rel=1e-12)
    assert f["decode"] == pytest.approx(dec, rel=1e-12)
    if temporal == 1:  # streaming runs the same convs
        step = _hook_flops(vae, lambda a: vae.encode_step(a, None), x[:, 0])
        assert f["encode"] == step


def test_flops_default_config_positive_and_scale_with_area():
    f64 = flops_per_frame(VAEConfig(), 64, 64)
    f128 = flops_per_frame(VAEConfig(), 128, 128)
    assert f64["encode"] > 0 and f64["decode"] > 0
    assert f128["encode"] == 4 * f64["encode"] and f128["decode"] == 4 * f64["decode"]


# -------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "call,shape",
    [
        ("encode", (1, 3, 32, 32)),  # wrong rank
        ("encode", (1, 2, 4, 32, 32)),  # wrong channels
        ("encode", (1, 2, 3, 30, 32)),  # H not divisible by 4
        ("encode", (1, 2, 3, 32, 34)),  # W not divisible by 4
        ("decode", (1, 2, 5, 8, 8)),  # wrong latent channels
        ("decode", (1, 4, 8, 8)),  # wrong rank
        ("encode_step", (1, 1, 3, 32, 32)),  # a sequence given to the step API
        ("encode_step", (1, 1, 32, 32)),
        ("encode_step", (1, 3, 32, 33)),
        ("decode_step", (1, 3, 8, 8)),
    ],
)
def test_bad_inputs_name_the_shape(call, shape):
    vae = _vae()
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        getattr(vae, call)(torch.zeros(shape))


def test_bad_temporal_length_and_state():
    vae = _vae(temporal=4)
    with pytest.raises(ValueError, match=r"\(1, 6, 3, 32, 32\)"):
        vae.encode(torch.zeros(1, 6, 3, 32, 32))
    vae1 = _vae()
    with torch.no_grad():
        _, st = vae1.encode_step(torch.zeros(2, 3, 32, 32))
        with pytest.raises(ValueError, match=r"\(2, 8, 16, 16\)"):  # batch changed mid-stream
            vae1.encode_step(torch.zeros(3, 3, 32, 32), st)
        with pytest.raises(ValueError, match="list of 2 tensors"):
            vae1.encode_step(torch.zeros(2, 3, 32, 32), st[:1])
    with pytest.raises(ValueError, match="floating-point"):
        vae1.encode(torch.zeros(1, 1, 3, 32, 32, dtype=torch.uint8))
