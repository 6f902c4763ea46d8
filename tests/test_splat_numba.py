"""The numba splat kernel against the torch reference forward_warp (same semantics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inspatio_gym.geometry import dispatch, warp
from inspatio_gym.geometry.camera import intrinsics_from_fov, make_pose, rot_x, rot_y, scale_intrinsics
from inspatio_gym.geometry.warp import WarpResult, forward_warp_numba
from inspatio_gym.geometry.warp import forward_warp_torch as forward_warp

H, W = 24, 32


def _poses(B: int, F: int, seed: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    rs = np.random.default_rng(seed)
    src = [[make_pose(rot_y(0.1 * scale * rs.standard_normal()) @ rot_x(0.05 * scale * rs.standard_normal()),
                      0.15 * scale * rs.standard_normal(3)) for _ in range(F)] for _ in range(B)]  # fmt: skip
    tgt = [make_pose(rot_y(0.1 * scale * rs.standard_normal()), 0.15 * scale * rs.standard_normal(3)) for _ in range(B)]
    return torch.from_numpy(np.array(src)), torch.from_numpy(np.array(tgt))


def _inputs(B: int, F: int, seed: int = 0, lo: float = 1.0, hi: float = 5.0, h: int = H, w: int = W):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(B, F, h, w, 3, generator=g)
    depth = lo + (hi - lo) * torch.rand(B, F, h, w, generator=g)
    src, tgt = _poses(B, F, seed)
    return rgb, depth, torch.from_numpy(intrinsics_from_fov(w, h, 60)), src, tgt


def _check(ref: WarpResult, got: WarpResult, atol: float = 1e-4, normal_only: bool = False) -> None:
    """Exact mask; rgb/depth to atol; weight to a relative tolerance.

    Tolerances: the torch reference projects in float32, the kernel in float64. A corner
    whose bilinear weight is tiny (the point lands near a pixel edge) carries the float32
    rounding of the projected position as a relative error of up to ~4e-4 in its weight,
    and ~6e-5 in a pixel's weighted average; how much depends on the CPU's matmul kernels
    (seen on an AVX-512 Xeon), so 1e-4 / 1e-5 did not hold on every machine.

    normal_only: compare values to atol only where the splat weight is a normal float32
    (> 1e-30). Below that the weights are denormals with a few significant bits, and one
    ulp of exp / log1p (torch: SLEEF; here: float64, rounded once) moves the average more.
    """
    assert got.rgb.dtype == torch.float32 and got.mask.dtype == torch.bool
    assert got.rgb.shape == ref.rgb.shape and got.depth.shape == ref.depth.shape
    assert torch.equal(got.mask, ref.mask)
    for t in (got.rgb, got.depth, got.weight):
        assert torch.isfinite(t).all()
    sel = ref.weight > 1e-30 if normal_only else torch.ones_like(ref.mask)
    torch.testing.assert_close(got.rgb[sel], ref.rgb[sel], atol=atol, rtol=0)
    torch.testing.assert_close(got.depth[sel], ref.depth[sel], atol=atol, rtol=0)
    torch.testing.assert_close(got.weight, ref.weight, atol=1e-35, rtol=1e-3)
    if normal_only:
        torch.testing.assert_close(got.rgb, ref.rgb, atol=1e-3, rtol=0)
        torch.testing.assert_close(got.depth, ref.depth, atol=1e-3, rtol=1e-3)


def _both(*args, **kw) -> tuple[WarpResult, WarpResult]:
    return forward_warp(*args, **kw), forward_warp_numba(*args, **kw)


def test_dispatch_rule(monkeypatch):
    """One rule: the kernels for CPU tensors that need no gradient, unless forced off."""
    monkeypatch.setattr(dispatch, "TORCH_ONLY", False)  # whatever this run's INSPATIO_GYM_TORCH_WARP
    x = torch.zeros(2)
    assert dispatch.use_numba(x, np.zeros(2), None)
    assert not dispatch.use_numba(x, torch.zeros(2, requires_grad=True))
    assert not dispatch.use_numba(torch.zeros(2, device="meta"))
    rgb, depth, K, src, tgt = _inputs(1, 1, seed=13)
    calls = []
    monkeypatch.setattr(warp, "forward_warp_numba", lambda *a: calls.append("numba"))
    monkeypatch.setattr(warp, "forward_warp_torch", lambda *a: calls.append("torch"))
    warp.forward_warp(rgb, depth, K, src, tgt)
    warp.forward_warp(rgb, depth.requires_grad_(), K, src, tgt)
    monkeypatch.setattr(dispatch, "TORCH_ONLY", True)  # INSPATIO_GYM_TORCH_WARP=1
    warp.forward_warp(rgb, depth.detach(), K, src, tgt)
    assert calls == ["numba", "torch", "torch"]


@pytest.mark.parametrize("F", [1, 3])
def test_random_matches_reference(F):
    rgb, depth, K, src, tgt = _inputs(3, F, seed=F)
    ref, got = _both(rgb, depth, K, src, tgt)
    assert 0.3 < ref.mask.float().mean() < 1.0  # holes and overlaps both occur
    _check(ref, got)


def test_single_frame_layout_and_batch_one():
    rgb, depth, K, src, tgt = _inputs(1, 1, seed=7)
    ref, got = _both(rgb[:, 0], depth[:, 0], K, src[:, 0], tgt)  # [B,H,W,C] without the F axis
    _check(ref, got)


def test_out_size_and_K_tgt():
    # source at half resolution with its scaled K, rendered at full resolution, and back down
    Kf = intrinsics_from_fov(W, H, 60)
    Kh = torch.from_numpy(scale_intrinsics(Kf, 0.5))
    rgb, depth, _, src, tgt = _inputs(2, 2, seed=3, h=H // 2, w=W // 2)
    ref, got = _both(rgb, depth, Kh, src, tgt, out_size=(H, W), K_tgt=torch.from_numpy(Kf))
    assert ref.rgb.shape == (2, H, W, 3)
    _check(ref, got)
    rgb, depth, _, src, tgt = _inputs(2, 2, seed=4)
    Kb = torch.from_numpy(np.stack([Kf, scale_intrinsics(Kf, 1.1)]))  # per-item K [B, 3, 3]
    ref, got = _both(rgb, depth, Kb, src, tgt, out_size=(H // 2, W // 2 + 3), K_tgt=Kh)
    _check(ref, got)


def test_points_behind_the_camera():
    rgb, depth, K, src, _ = _inputs(2, 2, seed=5, lo=0.5, hi=6.0)
    # target 2 units forward and one turned by 100 degrees: many points end up at z <= 0
    tgt = np.stack([make_pose(np.eye(3), [0, 0, 2.0]), make_pose(rot_y(math.radians(100)), [0, 0, 0])])
    tgt = torch.from_numpy(tgt)
    ref, got = _both(rgb, depth, K, src, tgt)
    assert ref.mask[0].any() and not ref.mask[0].all()
    _check(ref, got)


def test_invalid_depth():
    rgb, depth, K, src, tgt = _inputs(3, 2, seed=6)
    g = torch.Generator().manual_seed(1)
    bad = torch.rand(depth.shape, generator=g)
    depth[bad < 0.1] = 0.0
    depth[(bad >= 0.1) & (bad < 0.2)] = float("nan")
    depth[(bad >= 0.2) & (bad < 0.25)] = float("inf")
    depth[(bad >= 0.25) & (bad < 0.3)] = -1.0
    depth[2] = float("nan")  # an item with no valid point at all
    ref, got = _both(rgb, depth, K, src, tgt)
    assert not ref.mask[2].any()
    _check(ref, got)
    assert (got.rgb[2] == 0).all() and (got.depth[2] == 0).all() and (got.weight[2] == 0).all()


def test_large_alpha_narrow_depth_range_is_exact():
    rgb, depth, K, src, tgt = _inputs(2, 3, seed=8, lo=2.0, hi=2.5)  # no weight underflows
    ref, got = _both(rgb, depth, K, src, tgt, alpha=200.0)
    _check(ref, got)


def test_large_alpha_underflow_has_no_nan():
    rgb, depth, K, src, tgt = _inputs(2, 3, seed=9, lo=0.5, hi=20.0)
    ref, got = _both(rgb, depth, K, src, tgt, alpha=200.0, depth_unit=0.5)
    assert (ref.mask & (ref.weight < 1e-30)).any()  # far points underflow to denormals or 0
    _check(ref, got, normal_only=True)


def test_identity_pose_reproduces_input():
    rgb, depth, K, src, _ = _inputs(2, 1, seed=10)
    res = forward_warp_numba(rgb, depth, K, src, src[:, 0])
    assert res.mask.all()
    torch.testing.assert_close(res.rgb, rgb[:, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(res.depth, depth[:, 0], atol=1e-6, rtol=1e-6)
    _check(forward_warp(rgb, depth, K, src, src[:, 0]), res)


def test_uint8_rgb_alpha_zero_depth_unit_and_channels():
    rgb, depth, K, src, tgt = _inputs(2, 2, seed=11)
    rgb8 = (rgb * 255).to(torch.uint8)
    _check(*_both(rgb8, depth, K, src, tgt, depth_unit=3.0))
    _check(*_both(rgb, depth, K, src, tgt, alpha=0.0))
    _check(*_both(rgb[..., :1].contiguous(), depth, K, src, tgt))  # one channel
    strided = rgb.transpose(2, 3).contiguous().transpose(2, 3)
    _check(*_both(strided, depth.double(), K, src.float(), tgt))  # strides, dtypes


def test_input_errors():
    K = torch.from_numpy(intrinsics_from_fov(8, 8, 60))
    eye = torch.eye(4, dtype=torch.float64)[None]
    with pytest.raises(ValueError, match="depth shape"):
        forward_warp_numba(torch.zeros(1, 8, 8, 3), torch.ones(1, 8, 7), K, eye, eye)
    with pytest.raises(ValueError, match="alpha"):
        forward_warp_numba(torch.zeros(1, 8, 8, 3), torch.ones(1, 8, 8), K, eye, eye, alpha=-1.0)
    with pytest.raises(ValueError, match="poses"):
        forward_warp_numba(torch.zeros(1, 8, 8, 3), torch.ones(1, 8, 8), K, eye, eye[0])


def test_procedural_world_like_the_warp_backend(room_world):
    """uint8 frames, 5 source frames per lane, depth_unit = scene scale: as the env calls it."""
    w = room_world
    rgb, depth = torch.from_numpy(w.frames), torch.from_numpy(w.depth)
    c2w, K = torch.from_numpy(w.c2w), torch.from_numpy(w.K)
    rs = np.random.default_rng(0)
    frames = rs.integers(0, w.num_frames, 6)
    idx = torch.from_numpy(np.clip(frames[:, None] + np.array([0, -4, 4, -8, 8]), 0, w.num_frames - 1))
    moves = [make_pose(rot_y(0.3 * rs.standard_normal()), 0.3 * w.scale * rs.standard_normal(3)) for _ in frames]
    tgt = np.stack([w.c2w[f] @ m for f, m in zip(frames, moves)])
    tgt[0] = w.c2w[frames[0]]  # one lane exactly on its reference frame
    for alpha in (25.0, 200.0):
        args = (rgb[idx], depth[idx], K, c2w[idx], torch.from_numpy(tgt))
        _check(*_both(*args, alpha=alpha, depth_unit=w.scale), normal_only=alpha > 100)


def test_concurrent_callers_and_forked_child():
    """Batches from several threads at once, and a fork after the parent used the lane
    threads (the child must build its own pool, not wait on the parent's dead threads)."""
    import multiprocessing as mp
    import threading

    rgb, depth, K, src, tgt = _inputs(4, 2, seed=12, h=12, w=16)
    ref = forward_warp_numba(rgb, depth, K, src, tgt)
    bad = []

    def run():
        for _ in range(20):
            if not torch.equal(forward_warp_numba(rgb, depth, K, src, tgt).rgb, ref.rgb):
                bad.append(1)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q, rgb, depth, K, src, tgt))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert np.array_equal(q.get(timeout=10), ref.rgb.numpy())


def _child(q, *args):
    q.put(forward_warp_numba(*args).rgb.numpy())  # numpy: torch would share it by fd
