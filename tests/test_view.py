"""From splat to view: the numba kernels against the torch reference, and the lane threads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspatio_gym.geometry.camera import make_pose, rot_y
from inspatio_gym.geometry.lane_threads import num_threads, run_lanes
from inspatio_gym.geometry.mesh import MESH_DEFAULTS, SKIRT, mesh_skirt_torch, mesh_warp_torch
from inspatio_gym.geometry.view import View, _finish_skirted, finish_splat, finish_splat_torch, warp_view
from inspatio_gym.geometry.warp import WarpResult, forward_warp_torch


def _same_view(got: View, ref: View, render_share: float = 0.0) -> None:
    """Masks exactly, renders exactly (or on all but render_share of the pixels); the filled
    image to one level where a value rounds at .5 (float rounding of the pyramid), on a tiny
    share of pixels; depth to float rounding."""
    assert np.array_equal(got.mask, ref.mask)
    off = (got.render != ref.render).any(-1)
    assert off.mean() <= render_share, off.mean()
    diff = np.abs(got.rgb.astype(int) - ref.rgb.astype(int))
    assert (diff > 1).mean() <= render_share and (diff > 0).mean() < 1e-3 + render_share
    close = np.isclose(got.depth, ref.depth, rtol=1e-5, atol=1e-5)
    assert (~close).mean() <= render_share
    for a in (got.render, got.rgb):
        assert a.dtype == np.uint8


def _mesh_view_torch(frames, depth, K, c2w, tgt, unit: float, fill_rgb: bool) -> View:
    """The torch reference of a mesh view: the mesh warp, its skirt into the holes."""
    res = mesh_warp_torch(frames, depth, K, c2w, tgt, depth_unit=unit, **MESH_DEFAULTS)
    sk = mesh_skirt_torch(frames, depth, K, c2w, tgt, res.mask, depth_unit=unit, skirt=SKIRT, **MESH_DEFAULTS)
    assert not (sk.mask & res.mask).any()
    return _finish_skirted(res, sk, fill_rgb)


def _splat(B: int, H: int, W: int, seed: int, hole_rows: int = 0) -> WarpResult:
    """A smooth depth ramp with a nearer square (cracks and silhouettes) and random holes."""
    rs = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    depth = np.broadcast_to(2.0 + 0.02 * xx + 0.01 * yy, (B, H, W)).copy()
    depth[:, H // 4: H // 2, W // 4: W // 2] = 1.0
    mask = rs.random((B, H, W)) > 0.15
    mask[:, :hole_rows] = False
    depth = np.where(mask, depth, 0).astype(np.float32)
    rgb = (rs.random((B, H, W, 3)) * 1.1 - 0.05).astype(np.float32)
    t = torch.from_numpy
    return WarpResult(rgb=t(rgb), depth=t(depth), mask=t(mask), weight=t(mask.astype(np.float32)))


@pytest.mark.parametrize("shape", [(5, 64, 64), (3, 37, 50), (2, 1, 7), (1, 9, 1), (2, 128, 96)])
@pytest.mark.parametrize("fill_rgb", [True, False])
def test_finish_matches_torch(shape, fill_rgb):
    res = _splat(*shape, seed=sum(shape), hole_rows=shape[1] // 3)
    got, ref = finish_splat(res, fill_rgb), finish_splat_torch(res, fill_rgb)
    _same_view(got, ref)
    if not fill_rgb:
        assert np.array_equal(got.rgb, got.render)


def test_finish_fully_covered_and_empty():
    res = _splat(2, 16, 16, seed=1)
    res.mask[:] = True
    res.depth[:] = 2.0  # flat: no cracks, nothing to fill
    view = finish_splat(res)
    assert view.mask.all() and np.array_equal(view.rgb, view.render)
    np.testing.assert_array_equal(view.depth, res.depth.numpy())
    res.mask[:] = False
    res.depth[:] = 0.0
    view, ref = finish_splat(res), finish_splat_torch(res)
    _same_view(view, ref)
    assert not view.mask.any() and (view.rgb == 0).all() and (view.depth == 0).all()


def test_holes_take_the_surrounding_colour():
    """A hole inside a uniform region is filled with that colour and depth."""
    res = _splat(1, 32, 32, seed=2)
    res.rgb[:] = torch.tensor([0.2, 0.4, 0.6])
    res.depth[:] = 3.0
    res.mask[:] = True
    res.mask[0, 10:20, 12:18] = False
    view = finish_splat(res)
    hole = ~view.mask[0]
    assert hole.sum() == 60
    assert (np.abs(view.rgb[0][hole].astype(int) - [51, 102, 153]) <= 1).all()
    np.testing.assert_allclose(view.depth[0][hole], 3.0, rtol=1e-6)


@pytest.mark.parametrize("surface", ["mesh", "splat"])
def test_warp_view_matches_torch_path(room_world, surface):
    """The fused kernel (frames read in place by index) against the torch warp of the
    gathered frames followed by the torch finish, as the warp backend calls it."""
    w = room_world
    frames, depth = torch.from_numpy(w.frames), torch.from_numpy(w.depth)
    c2w, K = torch.from_numpy(w.c2w), torch.from_numpy(w.K)
    rs = np.random.default_rng(3)
    start = rs.integers(0, w.num_frames, 7)
    idx = np.clip(start[:, None] + np.array([0, -4, 4, -8, 8]), 0, w.num_frames - 1)
    tgt = np.stack([w.c2w[f] @ make_pose(rot_y(0.3 * rs.standard_normal()), 0.3 * w.scale * rs.standard_normal(3))
                    for f in start])  # fmt: skip
    tgt[0] = w.c2w[start[0]]
    for fill_rgb in (True, False):
        got = warp_view(frames, depth, K, c2w, idx, torch.from_numpy(tgt), alpha=25.0, depth_unit=w.scale,
                        fill_rgb=fill_rgb, surface=surface)
        i = torch.from_numpy(idx)
        if surface == "mesh":
            ref = _mesh_view_torch(frames[i], depth[i], K, c2w[i], torch.from_numpy(tgt), w.scale, fill_rgb)
        else:
            res = forward_warp_torch(frames[i], depth[i], K, c2w[i], torch.from_numpy(tgt), alpha=25.0,
                                     depth_unit=w.scale)
            ref = finish_splat_torch(res, fill_rgb, cracks=True)
        # the mesh: a near tie of two surfaces may fall either way in float64 (1 pixel in 28,672 here)
        _same_view(got, ref, render_share=1e-4 if surface == "mesh" else 0.0)
    assert got.mask[0].mean() > (0.999 if surface == "mesh" else 0.95)  # lane 0 sits on its reference frame


def test_warp_view_rejects_bad_indices_and_shapes(room_world):
    w = room_world
    args = [torch.from_numpy(a) for a in (w.frames, w.depth, w.K, w.c2w)]
    tgt = torch.from_numpy(w.c2w[:2])
    with pytest.raises(ValueError, match="frame indices"):
        warp_view(*args, np.array([[0], [w.num_frames]]), tgt)
    with pytest.raises(ValueError, match="shapes"):
        warp_view(*args, np.array([[0], [1], [2]]), tgt)


def test_run_lanes_chunks_equal_one_call(monkeypatch):
    def kernel(x, out, k):  # numpy releases the GIL on large ops; correctness is what counts here
        out[:] = x * k

    x = np.arange(40.0).reshape(10, 4)
    for threads in ("1", "2", "3", "16"):
        monkeypatch.setenv("INSPATIO_GYM_THREADS", threads)
        out = np.zeros_like(x)
        run_lanes(kernel, (x, out, 3.0), (0, 1), len(x), min_lanes_per_thread=1)
        np.testing.assert_array_equal(out, x * 3.0)
    assert num_threads() == 16


def test_run_lanes_propagates_errors_and_checks_setting(monkeypatch):
    monkeypatch.setenv("INSPATIO_GYM_THREADS", "2")

    def kernel(x):
        if x[0] >= 5:
            raise RuntimeError(f"bad lane {x[0]}")

    with pytest.raises(RuntimeError, match="bad lane 5"):
        run_lanes(kernel, (np.arange(10),), (0,), 10)
    for bad in ("0", "two"):
        monkeypatch.setenv("INSPATIO_GYM_THREADS", bad)
        with pytest.raises(ValueError, match="INSPATIO_GYM_THREADS"):
            num_threads()


@pytest.mark.parametrize("surface", ["mesh", "splat"])
def test_warp_view_per_lane_intrinsics(room_world, surface):
    """K [B,3,3] (one per lane, as forward_warp takes it) in the fused kernel, split over threads."""
    w = room_world
    frames, depth, c2w = torch.from_numpy(w.frames), torch.from_numpy(w.depth), torch.from_numpy(w.c2w)
    idx = np.array([[3, 0], [9, 5], [14, 10], [22, 18]])
    tgt = torch.from_numpy(np.stack([w.c2w[i] @ make_pose(rot_y(0.1 * k), [0.05 * w.scale, 0, 0])
                                     for k, i in enumerate(idx[:, 0])]))  # fmt: skip
    K = torch.from_numpy(np.stack([w.K * [[s], [s], [1]] for s in (1.0, 0.9, 1.1, 1.2)]))
    got = warp_view(frames, depth, K, c2w, idx, tgt, alpha=25.0, depth_unit=w.scale, surface=surface)
    i = torch.from_numpy(idx)
    if surface == "mesh":
        ref = _mesh_view_torch(frames[i], depth[i], K, c2w[i], tgt, w.scale, True)
    else:
        ref = finish_splat_torch(forward_warp_torch(frames[i], depth[i], K, c2w[i], tgt, alpha=25.0,
                                                    depth_unit=w.scale))
    _same_view(got, ref, render_share=1e-4 if surface == "mesh" else 0)


def test_torch_warp_forces_the_torch_path(room_world, monkeypatch):
    """INSPATIO_GYM_TORCH_WARP=1 (dispatch.TORCH_ONLY): finish_splat and warp_view skip the kernels."""
    from inspatio_gym.geometry import dispatch, view, view_numba

    def no_kernel(*args):
        raise AssertionError("the numba kernel ran")

    monkeypatch.setattr(dispatch, "TORCH_ONLY", True)
    monkeypatch.setattr(view_numba, "warp_view_numba", no_kernel)
    monkeypatch.setattr(view_numba, "finish_splat_numba", no_kernel)
    w = room_world
    args = [torch.from_numpy(a) for a in (w.frames, w.depth, w.K, w.c2w)]
    got = view.warp_view(*args, np.array([[2, 0]]), torch.from_numpy(w.c2w[2:3]))
    assert got.mask.mean() > 0.95
    _same_view(view.finish_splat(_splat(2, 16, 16, seed=4)), finish_splat_torch(_splat(2, 16, 16, seed=4)))
