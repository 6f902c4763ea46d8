"""The surface warp (geometry.mesh): exactness at the source pose, homography agreement,
discontinuities left open, far pixels at infinity, numba against the torch reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from inspatio_gym.geometry.camera import make_pose, rot_x, rot_y
from inspatio_gym.geometry.mesh import MESH_DEFAULTS, SKIRT, mesh_skirt_torch, mesh_warp_numba, mesh_warp_torch
from inspatio_gym.geometry.view import warp_view
from inspatio_gym.render.warp import WarpRenderer


def _box_scene(H: int = 48, W: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured wall at depth 4 with a box at depth 1 in front: (rgb uint8, depth, K)."""
    rs = np.random.default_rng(seed)
    rgb = rs.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 4.0, np.float32)
    depth[H // 3: 2 * H // 3, W // 3: W // 2] = 1.0
    K = np.array([[W * 0.9, 0, (W - 1) / 2], [0, W * 0.9, (H - 1) / 2], [0, 0, 1.0]])
    return rgb, depth, K


def _random_views(w, seed: int, n: int, turn: float, move: float) -> tuple[np.ndarray, np.ndarray]:
    """n random (frame indices [n, 3]: a source and its neighbours 4 away, target c2w [n,4,4]):
    each source pose turned by ~turn rad and moved by ~move x scale."""
    rs = np.random.default_rng(seed)
    start = rs.integers(0, w.num_frames, n)
    idx = np.clip(start[:, None] + np.array([0, -4, 4]), 0, w.num_frames - 1)
    tgt = np.stack([w.c2w[f] @ make_pose(rot_y(turn * rs.standard_normal()), move * w.scale * rs.standard_normal(3))
                    for f in start])  # fmt: skip
    return idx, tgt


def _warp(impl, rgb, depth, K, tgt, far=None, unit=1.0):
    t = torch.from_numpy
    return impl(t(rgb)[None], t(depth)[None], t(K), t(np.eye(4))[None], t(tgt)[None],
                None if far is None else t(far)[None], unit, **MESH_DEFAULTS)


@pytest.mark.parametrize("impl", [mesh_warp_numba, mesh_warp_torch])
def test_source_pose_reproduces_the_reference_exactly(impl):
    rgb, depth, K = _box_scene()
    depth[5, 7] = 0.0  # an unknown pixel stays a hole
    depth[20, 50] = 2.5  # an isolated depth (no triangle keeps it) still shows, as a point
    res = _warp(impl, rgb, depth, K, np.eye(4))
    expect = depth > 0
    assert np.array_equal(res.mask[0].numpy(), expect)
    out = (res.rgb[0].numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(out[expect], rgb[expect])
    np.testing.assert_allclose(res.depth[0].numpy()[expect], depth[expect], rtol=1e-12)


def test_rotation_only_agrees_with_the_homography():
    """A pure rotation moves every pixel by K R K^-1 whatever its depth: the mesh render
    matches OpenCV's perspective warp (bilinear) on the pixels both cover."""
    H, W = 64, 80
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    rgb = np.stack([127 + 100 * np.sin(xx / 5), 127 + 100 * np.cos(yy / 7), 127 + 60 * np.sin((xx + yy) / 9)],
                   -1).astype(np.uint8)
    depth = (2.0 + 0.5 * np.sin(xx / 11) + 0.3 * np.cos(yy / 13)).astype(np.float32)
    K = np.array([[70.0, 0, (W - 1) / 2], [0, 70.0, (H - 1) / 2], [0, 0, 1]])
    R = rot_y(0.08) @ rot_x(0.05)
    tgt = make_pose(R, np.zeros(3))
    res = _warp(mesh_warp_numba, rgb, depth, K, tgt)
    Hm = K @ R.T @ np.linalg.inv(K)  # source pixel -> target pixel (world = source camera)
    ref = cv2.warpPerspective(rgb, Hm, (W, H), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    inside = cv2.warpPerspective(np.ones((H, W), np.uint8), Hm, (W, H), flags=cv2.INTER_NEAREST) > 0
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    both = inside & res.mask[0].numpy()
    assert both.mean() > 0.7
    got = res.rgb[0].numpy() * 255
    assert np.abs(got[both] - ref[both].astype(float)).mean() < 1.5


def test_a_discontinuity_leaves_a_hole_not_a_rubber_sheet():
    rgb, depth, K = _box_scene()
    tgt = make_pose(np.eye(3), [0.4, 0.0, 0.0])  # sideways: the wall behind the box's edge shows
    res = _warp(mesh_warp_numba, rgb, depth, K, tgt)
    d, m = res.depth[0].numpy(), res.mask[0].numpy()
    between = m & (d > 1.05) & (d < 3.9)  # a sheet stretched from the box to the wall
    assert between.sum() == 0
    assert (~m[8:-8, 8:-8]).sum() > 20  # the disocclusion is a hole
    # the splat of the same scene is not closed where the box is magnified; the mesh is
    near = make_pose(np.eye(3), [0.0, 0.0, 0.5])
    res = _warp(mesh_warp_numba, rgb, depth, K, near)
    d, m = res.depth[0].numpy(), res.mask[0].numpy()
    ys, xs = np.nonzero(m & (d < 1.05))
    inner = (slice(ys.min() + 1, ys.max()), slice(xs.min() + 1, xs.max()))  # the magnified box, inside
    assert m[inner].size > 100 and m[inner].all() and (d[inner] < 1.05).all()


@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("a,b,c,e,kept", [
    (1.0954, 1.0, 1.2, 1.0954, (True, True)),  # the diagonal b-c at 1.2: within r2 for both triangles
    (1.0954, 1.0954, 1.2, 1.0, (True, False)),  # side e-c at 1.2 (b-c 1.095): over r1, b e c goes
    (1.2, 1.0, 1.0, 1.0, (False, True)),  # sides a-b, a-c at 1.2: a b c goes
])
def test_each_triangle_judges_its_sides_by_r1_and_the_diagonal_by_r2(impl, a, b, c, e, kept):
    """Quad a b / c e: both triangles (a b c, b e c) allow their sides a ratio r1 and the
    diagonal b-c, sqrt(2) longer, r2 > r1 (the second triangle once had them swapped)."""
    from inspatio_gym.geometry import mesh as mesh_mod, mesh_numba

    r1, r2 = 1.1, 1.3
    if impl == "numba":
        qb = np.zeros((1, 1), np.uint8)
        mesh_numba._quad_bits(np.array([[[a, b], [c, e]]], np.float32), 0, r1, r2, qb)
        got = (bool(qb[0, 0] & 1), bool(qb[0, 0] & 2))
    else:
        tri = torch.tensor([[0, 1, 2], [1, 3, 2]])
        keep = mesh_mod._keep_torch(tri, torch.ones(1, 1, 4, dtype=torch.int64),
                                    torch.tensor([[[a, b, c, e]]], dtype=torch.float64), r1, r2)
        got = tuple(bool(k) for k in keep[0, 0])
    assert got == kept


def test_far_pixels_rotate_but_do_not_translate():
    rgb, depth, K = _box_scene()
    far = np.zeros_like(depth, dtype=bool)
    far[:10] = True  # a sky band
    tgt = make_pose(np.eye(3), [0.3, 0.2, 0.5])
    res = _warp(mesh_warp_numba, rgb, depth, K, tgt, far=far)
    out = (res.rgb[0].numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(out[:5], rgb[:5])  # the band stays where it was (the wall moves up over its bottom rows)
    without = _warp(mesh_warp_numba, rgb, depth, K, tgt)
    assert not np.array_equal((without.rgb[0].numpy()[:5] * 255 + 0.5).astype(np.uint8), rgb[:5])


@pytest.mark.parametrize("with_far", [False, True])
def test_numba_and_torch_agree(room_world, with_far):
    w = room_world
    idx, tgt = _random_views(w, seed=5, n=6, turn=0.2, move=0.3)
    far = None
    if with_far:
        far = np.zeros(w.depth.shape, bool)
        far[:, :8] = True
        far = torch.from_numpy(far[idx])
    t = torch.from_numpy
    args = (t(w.frames[idx]), t(w.depth[idx]), t(w.K), t(w.c2w[idx]), t(tgt), far, w.scale)
    a, b = mesh_warp_numba(*args, **MESH_DEFAULTS), mesh_warp_torch(*args, **MESH_DEFAULTS)
    assert (a.mask != b.mask).float().mean() < 1e-4
    both = a.mask & b.mask
    diff = (a.rgb - b.rgb).abs().amax(-1)[both]
    assert (diff > 1e-6).float().mean() < 1e-4
    assert a.mask.float().mean() > 0.3  # large random moves: the views are partly covered


@pytest.mark.parametrize("surface", ["mesh", "splat"])
def test_depth_in_any_unit_renders_the_same(room_world, surface):
    """The near cutoff is relative to the scene scale: depth in tiny units is not black."""
    w = room_world
    idx = np.array([[3, 0], [10, 6]])
    tgt = np.stack([w.c2w[i] @ make_pose(rot_y(0.1), [0.1 * w.scale, 0, 0]) for i in idx[:, 0]])
    s = 1e-7
    c2w_s = w.c2w.copy()
    c2w_s[:, :3, 3] *= s
    tgt_s = tgt.copy()
    tgt_s[:, :3, 3] *= s
    t = torch.from_numpy
    a = warp_view(t(w.frames), t(w.depth), t(w.K), t(w.c2w), idx, t(tgt), depth_unit=w.scale, surface=surface)
    b = warp_view(t(w.frames), t(w.depth * s), t(w.K), t(c2w_s), idx, t(tgt_s), depth_unit=w.scale * s,
                  surface=surface)
    assert b.mask.mean() > 0.8
    assert (a.mask != b.mask).mean() < 0.01


def test_a_view_of_nothing_shows_the_nearest_reference_frame(room_world):
    w = room_world
    back = w.c2w[[5]] @ make_pose(rot_y(np.pi), np.zeros(3))  # facing away from everything seen
    view = WarpRenderer().render(w, back, np.array([5]))
    assert not view.mask.any()
    assert view.rgb.std() > 4  # not a flat or black frame
    assert any(np.array_equal(view.rgb[0], f) for f in w.frames)


def test_renderer_surface_option():
    with pytest.raises(ValueError, match="surface"):
        WarpRenderer(surface="points")


@pytest.mark.parametrize("threads", ["2", "3"])
def test_a_lane_split_across_threads_renders_bit_for_bit_as_one(room_world, monkeypatch, threads):
    """Fewer lanes than threads: each lane's primary raster is split by rows into private
    z-buffers and merged (mesh_numba._mesh_view_split); the views equal one thread's."""
    from inspatio_gym.geometry import mesh_numba

    w = room_world
    idx, tgt = _random_views(w, seed=11, n=4, turn=0.3, move=0.4)
    far = np.zeros(w.depth.shape, bool)
    far[:, :6] = True
    args = (w.frames, w.depth, far, w.K, w.c2w)
    monkeypatch.setenv("INSPATIO_GYM_THREADS", "1")
    one = [mesh_numba.mesh_view(*args, idx[i:i + 1], tgt[i:i + 1], w.scale, skirt=SKIRT, **MESH_DEFAULTS) for i in range(4)]
    monkeypatch.setenv("INSPATIO_GYM_THREADS", threads)
    monkeypatch.setattr(mesh_numba, "SPLIT_PIXELS", 0)
    called = []
    split = mesh_numba._mesh_view_split
    monkeypatch.setattr(mesh_numba, "_mesh_view_split", lambda *a: called.append(1) or split(*a))
    for i in range(4):
        got = mesh_numba.mesh_view(*args, idx[i:i + 1], tgt[i:i + 1], w.scale, skirt=SKIRT, **MESH_DEFAULTS)
        for a, b in zip(got, one[i]):
            np.testing.assert_array_equal(a, b)
    assert len(called) == 4
    assert one[0][1].mean() > 0.2  # the views show something


@pytest.mark.parametrize("far_left", [False, True])
def test_the_skirt_seeds_the_fill_with_the_border_and_is_not_covered(far_left):
    """A camera moved 3 px to the right of a frontal wall sees 3 columns past the frame's left
    border: the 1 px skirt gives the column next to the coverage the border's own colours
    (the push-pull fill alone blurs them), while the render and the covered mask are those
    of no skirt; the kernel and the torch reference agree (far border pixels too: rotation
    only, and the skirt then stays on the border's ray)."""
    from inspatio_gym.geometry import mesh_numba

    H, W, f, z = 24, 32, 30.0, 2.0
    rs = np.random.default_rng(4)
    rgb = rs.integers(0, 256, (1, H, W, 3), dtype=np.uint8)
    depth = np.full((1, H, W), z, np.float32)
    far = np.zeros((1, H, W), bool)
    far[0, :, :2] = far_left
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1.0]])
    tgt = make_pose(np.eye(3), [-3 * z / f, 0, 0])[None]  # the wall moves 3 px right
    views = {P: mesh_numba.mesh_view(rgb, depth, far if far_left else None, K, np.eye(4)[None], np.zeros((1, 1),
                                     np.int64), tgt, 1.0, skirt=P, **MESH_DEFAULTS) for P in (0, SKIRT)}
    (r0, m0, c0, _), (r1, m1, c1, _) = views[0], views[SKIRT]
    np.testing.assert_array_equal(m0, m1)
    np.testing.assert_array_equal(r0, r1)
    if far_left:  # far pixels do not move: the left columns stay covered, nothing to seed
        assert m1[0, :, 0].all()
        return
    assert not m1[0, :, :3].any() and m1[0, :, 3:].all()
    np.testing.assert_array_equal(c1[0, :, 2], rgb[0, :, 0])  # the skirt: the border column itself
    assert np.abs(c0[0, :, 2].astype(int) - rgb[0, :, 0]).mean() > 5  # the fill alone blurs it
    t = torch.from_numpy
    args = (t(rgb)[None], t(depth)[None], t(K), t(np.eye(4))[None, None], t(tgt))
    sk = mesh_skirt_torch(*args, t(m0), depth_unit=1.0, skirt=SKIRT, **MESH_DEFAULTS)
    assert sk.mask[0, :, 2].all() and not sk.mask[0, :, :2].any() and not sk.mask[0, :, 3:].any()
    np.testing.assert_array_equal((sk.rgb[0, :, 2].numpy() * 255 + 0.5).astype(np.uint8), rgb[0, :, 0])


@pytest.mark.parametrize("width", [-1, 1.5])
def test_skirt_rejects_a_bad_width(width):
    from inspatio_gym.geometry import mesh_numba

    rgb, depth, K = _box_scene(8, 8)
    with pytest.raises(ValueError, match=f"skirt .* got {width}"):
        mesh_numba.mesh_view(rgb[None], depth[None], None, K, np.eye(4)[None], np.zeros((1, 1), np.int64),
                             np.eye(4)[None], 1.0, skirt=width, **MESH_DEFAULTS)
    t = torch.from_numpy
    args = (t(rgb)[None, None], t(depth)[None, None], t(K), t(np.eye(4))[None, None], t(np.eye(4))[None])
    with pytest.raises(ValueError, match=f"skirt .* got {width}"):
        mesh_skirt_torch(*args, torch.zeros(1, 8, 8, dtype=torch.bool), skirt=width)
    with pytest.raises(ValueError, match=r"covered must be \[B,H,W\]"):
        mesh_skirt_torch(*args, torch.zeros(1, 8, 9, dtype=torch.bool))
