"""Cameras, trajectory files and the forward warp."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inspatio_gym.geometry import (
    forward_warp,
    intrinsics_from_fov,
    invert_pose,
    make_pose,
    parse_trajectory,
    plucker_rays,
    rot_x,
    rot_y,
    rotation_to_quaternion,
    trajectory_poses,
    unproject,
)
from inspatio_gym.geometry.trajectory import interpolate_keys, orbit_pose
from inspatio_gym.rollout import resolve_trajectory


def test_intrinsics_centre_and_fov():
    K = intrinsics_from_fov(64, 48, 90.0)
    assert K[0, 2] == pytest.approx(31.5) and K[1, 2] == pytest.approx(23.5)
    assert K[0, 0] == pytest.approx(32.0)  # tan(45 deg) = 1
    with pytest.raises(ValueError, match="fov_x_deg"):
        intrinsics_from_fov(64, 64, 180.0)


def test_pose_composition_and_inverse():
    rng = np.random.default_rng(0)
    A = make_pose(rot_y(0.3) @ rot_x(-0.2), rng.normal(size=3))
    B = make_pose(rot_x(0.7), rng.normal(size=3))
    np.testing.assert_allclose(invert_pose(A) @ A, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(invert_pose(A @ B), invert_pose(B) @ invert_pose(A), atol=1e-12)
    At = torch.from_numpy(np.stack([A, B]))
    np.testing.assert_allclose(invert_pose(At).numpy(), invert_pose(np.stack([A, B])), atol=1e-12)
    # conventions: +yaw turns the optical axis right (+x), +pitch tilts it up (-y)
    assert (rot_y(0.1) @ [0, 0, 1])[0] > 0
    assert (rot_x(0.1) @ [0, 0, 1])[1] < 0


def test_quaternion_roundtrip():
    R = rot_y(0.4) @ rot_x(-0.3)
    w, x, y, z = rotation_to_quaternion(R)
    Rq = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    np.testing.assert_allclose(Rq, R, atol=1e-12)
    np.testing.assert_allclose(rotation_to_quaternion(np.eye(3)), [1, 0, 0, 0])


def test_unproject_and_plucker():
    K = torch.from_numpy(intrinsics_from_fov(8, 6, 60.0))
    depth = torch.full((1, 6, 8), 2.0)
    pts = unproject(depth, K)
    assert torch.allclose(pts[..., 2], depth)
    # the principal point (3.5, 2.5) is between pixels; the centre ray has x = y = 0 there
    assert pts[0, 2, 3, 0] < 0 < pts[0, 2, 4, 0]
    c2w = torch.from_numpy(make_pose(rot_y(0.5), [1.0, 2.0, 3.0]))
    pl = plucker_rays(c2w, K, 6, 8)
    d, m = pl[..., :3], pl[..., 3:]
    assert torch.allclose(d.norm(dim=-1), torch.ones(1, 6, 8), atol=1e-5)
    assert torch.allclose((d * m).sum(-1), torch.zeros(1, 6, 8), atol=1e-5)  # moment is orthogonal
    # any point on the ray gives the same moment: o + 5 d
    o = c2w[:3, 3].float()
    assert torch.allclose(torch.cross(o + 5 * d, d, dim=-1), m, atol=1e-4)


# -- trajectory files ------------------------------------------------------------------------


def test_binary_trajectory_file_is_refused_naming_the_file(tmp_path):
    from inspatio_gym.geometry.trajectory import load_trajectory

    path = tmp_path / "clip.mp4.txt"
    path.write_bytes(b"0 10\n\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match=r"clip\.mp4\.txt.*not UTF-8 text \(byte 5"):
        load_trajectory(path)


def test_orbit_pose_looks_at_pivot():
    for p, y, r in [(10.0, 0.0, 1.0), (-20.0, 15.0, 2.5), (5.0, -30.0, 0.7)]:
        T = orbit_pose(p, y, r)
        C, axis = T[:3, 3], T[:3, 2]
        np.testing.assert_allclose(C + r * axis, [0, 0, r], atol=1e-6)
    # hand-computed: pitch 10 deg, yaw 0, r 1 -> T = (0, -sin 10, 1 - cos 10); + pitch moves up (-y)
    T = orbit_pose(10.0, 0.0, 1.0)
    s, c = math.sin(math.radians(10)), math.cos(math.radians(10))
    np.testing.assert_allclose(T[:3, 3], [0, -s, 1 - c], atol=1e-7)
    np.testing.assert_allclose(T[:3, :3], [[1, 0, 0], [0, c, s], [0, -s, c]], atol=1e-7)
    # + yaw orbits left (camera x < 0)
    assert orbit_pose(0.0, 10.0, 1.0)[0, 3] < 0
    np.testing.assert_allclose(orbit_pose(0, 0, 0.5, zoom=True)[:3, 3], [0, 0, 0.5])
    np.testing.assert_allclose(orbit_pose(10, 20, 0.5, rotation_only=True)[:3, 3], 0)


def test_linear_trajectory_against_hand_computed_poses():
    traj = parse_trajectory("0 10\n0 0\n1 1\n")
    src = np.tile(np.eye(4), (3, 1, 1))
    poses = trajectory_poses(traj, src)
    for i, p_deg in enumerate([0.0, 5.0, 10.0]):
        s, c = math.sin(math.radians(p_deg)), math.cos(math.radians(p_deg))
        np.testing.assert_allclose(poses[i][:3, 3], [0, -s, 1 - c], atol=1e-6)


def test_dolly_and_relative_to_source():
    traj = parse_trajectory("0 0\n0 0\n0 -1\n")
    src = np.stack([make_pose(rot_y(0.1 * i), [0.2 * i, 0.1, 2.0]) for i in range(5)])  # frame 0 is not I
    rs = np.linspace(0, -1, 5)
    poses = trajectory_poses(traj, src)
    # a dolly fixed to the first camera: backwards along its optical axis, same rotation
    np.testing.assert_allclose(poses[:, :3, :3], np.broadcast_to(src[0, :3, :3], (5, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(poses[:, :3, 3], src[0, :3, 3] + rs[:, None] * src[0, :3, 2], atol=1e-6)
    rel = trajectory_poses(traj, src, relative_to_source=True)
    for i in range(5):  # offsets ride on each source camera
        np.testing.assert_allclose(rel[i, :3, 3], src[i, :3, 3] + rs[i] * src[i, :3, 2], atol=1e-6)
        np.testing.assert_allclose(rel[i, :3, :3], src[i, :3, :3], atol=1e-12)
    still = trajectory_poses(parse_trajectory("0 0\n0 0\n0 0"), src, relative_to_source=True)
    np.testing.assert_allclose(still, src, atol=1e-12)  # zero offsets reproduce the source path
    rot = trajectory_poses(parse_trajectory("0 10\n0 10\n1 1"), src, rotation_only=True)
    np.testing.assert_allclose(rot[:, :3, 3], np.broadcast_to(src[0, :3, 3], (5, 3)), atol=1e-12)


def test_builtin_trajectories_match_the_original_spline():
    """The original uses scipy's smoothing UnivariateSpline; these figures are what it gives."""
    zoom = resolve_trajectory("zoom_out_in")
    r = trajectory_poses(zoom, np.tile(np.eye(4), (49, 1, 1)))[:, 2, 3]
    assert r.min() == pytest.approx(-0.783, abs=0.01) and r.max() == pytest.approx(0.783, abs=0.01)
    assert r[0] == 0.0 and r[-1] == 0.0  # endpoints pinned
    circle = resolve_trajectory("x_y_circle_cycle")
    pitch = interpolate_keys(circle.pitch, 49)
    yaw = interpolate_keys(circle.yaw, 49)
    assert pitch[0] == pytest.approx(-0.072, abs=0.01) and yaw[0] == pytest.approx(0.162, abs=0.01)
    assert 18.0 < pitch.max() < 20.0  # smoothing misses the +-20 keys


def test_trajectory_parse_errors(tmp_path):
    with pytest.raises(ValueError, match="3 non-empty lines"):
        parse_trajectory("0 1\n0 1\n")
    with pytest.raises(ValueError, match="yaw"):
        parse_trajectory("0 1\n0 x\n1 1\n")
    with pytest.raises(FileNotFoundError, match="nope"):
        resolve_trajectory(tmp_path / "nope.txt")


# -- warp -------------------------------------------------------------------------------------


def _smooth_image(H: int, W: int) -> torch.Tensor:
    v, u = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    return torch.stack([u, v, 0.5 + 0.4 * torch.sin(3 * u + 2 * v)], -1)


def test_warp_at_source_pose_reproduces_reference():
    H, W = 24, 32
    rng = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, H, W, 3, generator=rng)
    depth = 1 + 3 * torch.rand(2, H, W, generator=rng)
    K = torch.from_numpy(intrinsics_from_fov(W, H, 60))
    c2w = torch.from_numpy(np.stack([make_pose(rot_y(0.2), [1, 0, 0]), np.eye(4)]))
    res = forward_warp(rgb, depth, K, c2w, c2w)
    assert res.mask.all()
    assert torch.allclose(res.rgb, rgb, atol=1e-4)
    assert torch.allclose(res.depth, depth, atol=1e-4)


def test_rotation_warp_matches_homography():
    H, W = 48, 64
    rgb = _smooth_image(H, W)[None]
    depth = 2 + _smooth_image(H, W)[None, ..., 0]  # geometry ignores it under rotation
    Kn = intrinsics_from_fov(W, H, 60)
    K = torch.from_numpy(Kn)
    src = np.eye(4)
    tgt = make_pose(rot_y(math.radians(6)) @ rot_x(math.radians(3)), [0, 0, 0])
    res = forward_warp(rgb, depth, K, torch.from_numpy(src)[None], torch.from_numpy(tgt)[None])
    # backward homography: target pixel -> source pixel = K R_src^T R_tgt K^-1 x
    Hm = Kn @ tgt[:3, :3] @ np.linalg.inv(Kn)
    v, u = np.mgrid[0:H, 0:W]
    x = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ Hm.T
    su, sv = x[:, 0] / x[:, 2], x[:, 1] / x[:, 2]
    grid = torch.from_numpy(np.stack([su / (W - 1) * 2 - 1, sv / (H - 1) * 2 - 1], -1).reshape(1, H, W, 2)).float()
    expect = torch.nn.functional.grid_sample(rgb.permute(0, 3, 1, 2), grid, align_corners=True)[0].permute(1, 2, 0)
    inside = torch.from_numpy(((su > 1) & (su < W - 2) & (sv > 1) & (sv < H - 2)).reshape(H, W))
    m = res.mask[0] & inside
    assert m.float().mean() > 0.7
    err = (res.rgb[0][m] - expect[m]).abs().max()
    assert err < 0.02, err


def test_soft_zbuffer_near_wins_and_disocclusion_opens():
    H, W = 32, 32
    rgb = torch.zeros(1, H, W, 3)
    rgb[0, :, : W // 2, 0] = 1.0  # near half red
    rgb[0, :, W // 2 :, 2] = 1.0  # far half blue
    depth = torch.full((1, H, W), 6.0)
    depth[0, :, : W // 2] = 1.0
    K = torch.from_numpy(intrinsics_from_fov(W, H, 60))
    src = torch.eye(4, dtype=torch.float64)[None]
    left = torch.from_numpy(make_pose(np.eye(3), [-0.15, 0, 0]))[None]  # near content moves right over far
    res = forward_warp(rgb, depth, K, src, left)
    overlap = res.rgb[0, H // 2, W // 2 : W // 2 + 3]
    assert (overlap[:, 0] > 0.9).all(), overlap  # red (near) wins where both land
    right = torch.from_numpy(make_pose(np.eye(3), [0.15, 0, 0]))[None]
    res2 = forward_warp(rgb, depth, K, src, right)
    assert (~res2.mask[0, H // 2, W // 2 - 4 : W // 2]).any()  # a hole opens behind the near edge


def test_neighbour_fusion_fills_holes_without_blending():
    H, W = 24, 24
    K = torch.from_numpy(intrinsics_from_fov(W, H, 60))
    rgb = torch.zeros(1, 2, H, W, 3)
    rgb[0, 0, ..., 0] = 1.0
    rgb[0, 1, ..., 1] = 1.0
    depth = torch.full((1, 2, H, W), 2.0)
    src = torch.from_numpy(np.stack([np.eye(4), make_pose(np.eye(3), [0.5, 0, 0])]))[None]
    tgt = torch.from_numpy(make_pose(np.eye(3), [0.25, 0, 0]))[None]
    alone = forward_warp(rgb[:, 0], depth[:, 0], K, src[:, 0], tgt)
    fused = forward_warp(rgb, depth, K, src, tgt)
    assert fused.mask.sum() > alone.mask.sum()
    both = alone.mask[0]
    assert (fused.rgb[0][both][:, 0] > 0.99).all()  # the aligned frame keeps its pixels
    new = fused.mask[0] & ~alone.mask[0]
    assert (fused.rgb[0][new][:, 1] > 0.99).all()  # the neighbour fills the rest


def test_warp_shape_errors():
    K = torch.from_numpy(intrinsics_from_fov(8, 8, 60))
    with pytest.raises(ValueError, match="depth shape"):
        forward_warp(torch.zeros(1, 8, 8, 3), torch.ones(1, 8, 7), K, torch.eye(4)[None], torch.eye(4)[None])


def test_crack_mask_finds_background_between_foreground_splats_but_keeps_silhouettes():
    from inspatio_gym.geometry.cracks import crack_mask

    depth = torch.full((1, 8, 8), 5.0)
    depth[0, :, :4] = 1.0  # a near surface on the left half: its edge is a silhouette
    depth[0, 2, 1] = 5.0  # a one-pixel gap inside the near surface shows the background
    depth[0, 5, 6] = 1.0  # a lone near point in the background is not a crack either
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    cracks = crack_mask(depth, mask)
    assert cracks[0, 2, 1] and int(cracks.sum()) == 1
    mask[0, 2, 0] = False  # a hole on one side: the gap is no longer enclosed left-right
    mask[0, 1, 1] = False  # nor up-down
    assert not crack_mask(depth, mask)[0, 2, 1]
