"""Tests of the procedural scenes: conventions, exact geometry, time, paths and the collision oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inspatio_gym.geometry.camera import intrinsics_from_fov

from inspatio_gym.scenes import (
    PATH_KINDS,
    Material,
    Primitive,
    ProceduralScene,
    make_scene,
)
from inspatio_gym.scenes.procedural import ROOM_MAX, ROOM_MIN

torch.set_num_threads(2)

GREY = Material((0.6, 0.6, 0.6), (0.4, 0.4, 0.4), checker=0.5)


def _K(height: int, width: int, fov: float = 60.0) -> torch.Tensor:
    return torch.from_numpy(intrinsics_from_fov(width, height, fov))


def pose(yaw_deg: float = 0.0, pos=(0.0, 0.0, 0.0), pitch_deg: float = 0.0) -> torch.Tensor:
    """c2w float64: yaw about world y (positive turns towards +x), then pitch (positive looks down)."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    Ry = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)
    Rx = torch.tensor([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]], dtype=torch.float64)
    T = torch.eye(4, dtype=torch.float64)
    T[:3, :3] = Ry @ Rx
    T[:3, 3] = torch.tensor(pos, dtype=torch.float64)
    return T


def scene_with(*prims: Primitive) -> ProceduralScene:
    return ProceduralScene(ROOM_MIN, ROOM_MAX, [GREY] * 6, list(prims))


def unproject_world(depth: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """World points [H*W, 3] (float64) of a z-depth map [H, W]."""
    H, W = depth.shape
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], -1).reshape(-1, 3)
    cam = (pix @ torch.linalg.inv(K).T) * depth.reshape(-1, 1).double()
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


# ---------------------------------------------------------------------------- determinism / API
def test_same_seed_identical_different_seed_differs():
    K = _K(48, 64)
    a = make_scene(7).render(torch.eye(4), K, 48, 64, t=0.3)
    b = make_scene(7).render(torch.eye(4), K, 48, 64, t=0.3)
    c = make_scene(8).render(torch.eye(4), K, 48, 64, t=0.3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert make_scene(7).primitives == make_scene(7).primitives
    assert (a[0] - c[0]).abs().mean() > 0.02
    assert make_scene(7).primitives != make_scene(8).primitives


@pytest.mark.parametrize("kind", ["room", "street"])
def test_shapes_dtypes_and_ranges(kind):
    scene = make_scene(1, kind)
    K = _K(24, 40)
    rgb, depth = scene.render(torch.eye(4, dtype=torch.float64), K, 24, 40)
    assert rgb.shape == (1, 24, 40, 3) and depth.shape == (1, 24, 40)
    assert rgb.dtype == torch.float32 and depth.dtype == torch.float32
    c2w = scene.source_path("orbit", 5).to(torch.float32)
    rgb, depth = scene.render(c2w, K.float(), 24, 40, t=torch.linspace(0, 2, 5))
    assert rgb.shape == (5, 24, 40, 3) and depth.shape == (5, 24, 40)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert torch.isfinite(depth).all() and (depth > 0).all()
    assert 0.25 < rgb.mean() < 0.85, "scene should be neither dark nor washed out"


def test_batch_matches_single_renders_and_broadcasts():
    scene = make_scene(2)
    c2w = scene.source_path("pan", 3)
    Ks = torch.stack([_K(20, 30, fov) for fov in (50.0, 60.0, 70.0)])
    ts = torch.tensor([0.0, 0.7, 1.9])
    rgb, depth = scene.render(c2w, Ks, 20, 30, ts)
    for i in range(3):
        r1, d1 = scene.render(c2w[i], Ks[i], 20, 30, float(ts[i]))
        assert torch.allclose(rgb[i], r1[0], atol=1e-5) and torch.allclose(depth[i], d1[0], atol=1e-5)
    # one pose, many times: B comes from t
    rgb, depth = scene.render(torch.eye(4), Ks[0], 20, 30, ts)
    assert rgb.shape[0] == 3


def test_unknown_kinds_raise_with_name():
    with pytest.raises(ValueError, match="castle"):
        make_scene(0, "castle")
    with pytest.raises(ValueError, match="spiral"):
        make_scene(0).source_path("spiral", 10)


def test_scene_is_immutable():
    scene = make_scene(0)
    with pytest.raises(AttributeError):
        scene._lattice = None
    with pytest.raises(AttributeError):
        scene.bounds = ((0, 0, 0), (1, 1, 1))


def test_bounds_match_room_spec():
    lo, hi = make_scene(0).bounds
    assert lo == (-3.0, -1.2, -2.0) and hi == (3.0, 1.3, 7.0)


# ---------------------------------------------------------------------------- exact geometry
def test_empty_room_depth_is_analytic():
    """z-depth: every pixel on the front wall (z = 7) reads exactly 7; floor/side walls by similar triangles."""
    scene = make_scene(0, num_static=0, num_moving=0)
    H = W = 65
    K = _K(H, W, 60.0)
    _, depth = scene.render(torch.eye(4), K, H, W)
    d = depth[0]
    assert d[32, 32] == pytest.approx(7.0, rel=1e-5)
    assert d[32, 45] == pytest.approx(7.0, rel=1e-5)  # off-axis but still the front wall: z-depth, not range
    fy = float(K[1, 1])
    assert d[64, 32] == pytest.approx(1.3 / (32 / fy), rel=1e-4)  # floor (y = 1.3) at the bottom row
    assert d[0, 32] == pytest.approx(1.2 / (32 / fy), rel=1e-4)  # ceiling (y = -1.2)
    _, dr = scene.render(pose(90.0), K, H, W)  # looking along +x at the right wall x = 3
    assert dr[0, 32, 32] == pytest.approx(3.0, rel=1e-5)
    _, db = scene.render(pose(0.0, (0.5, 0.2, 1.0), pitch_deg=0), K, H, W)
    assert db[0, 32, 32] == pytest.approx(6.0, rel=1e-5)  # camera translation respected


@pytest.mark.parametrize(
    "prim, c2w, expected",
    [
        (Primitive("sphere", (0.0, 0.0, 4.0), (1.0, 1.0, 1.0), GREY), pose(), 3.0),
        (Primitive("box", (0.0, 0.0, 4.0), (0.5, 0.5, 0.5), GREY), pose(), 3.5),
        (Primitive("box", (0.0, 0.0, 4.0), (0.5, 0.5, 0.5), GREY, yaw=math.pi / 4), pose(), 4.0 - 0.5 * math.sqrt(2)),
        (Primitive("cylinder", (0.0, 0.0, 4.0), (0.5, 0.8, 0.5), GREY), pose(), 3.5),
        # looking straight down at the top cap of a cylinder whose top is at y = 0.3
        (Primitive("cylinder", (0.0, 0.8, 4.0), (0.5, 0.5, 0.5), GREY), pose(0.0, (0.0, -0.5, 4.0), 90.0), 0.8),
        # a moving sphere is where its motion says it is at t = 1 s (quarter period: x0 + amp)
        (Primitive("sphere", (-1.0, 0.0, 4.0), (0.5, 0.5, 0.5), GREY, motion=(1.0, 0.0, 0.0)), pose(), 3.5),
    ],
)
def test_primitive_depth_is_analytic(prim, c2w, expected):
    scene = scene_with(prim)
    K = _K(33, 33)
    _, depth = scene.render(c2w, K, 33, 33, t=1.0 if prim.moving else 0.0)
    assert depth[0, 16, 16] == pytest.approx(expected, rel=1e-5)


def test_unprojected_points_are_consistent_across_views():
    """Depth from view A, unprojected and projected into view B, matches B's rendered z-depth
    wherever it is not occluded; the colour there matches too (shading is view-independent)."""
    scene = make_scene(3)
    H, W = 96, 128
    K = _K(H, W).to(torch.float64)
    A, B = torch.eye(4, dtype=torch.float64), pose(9.0, (0.35, -0.1, 0.6), pitch_deg=4.0)
    rgb_a, dep_a = scene.render(A, K, H, W)
    rgb_b, dep_b = scene.render(B, K, H, W)
    pts = unproject_world(dep_a[0], K, A)
    cam = (pts - B[:3, 3]) @ B[:3, :3]
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z.unsqueeze(-1)
    inside = (z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] <= W - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= H - 1)
    # 1/z is affine in (u, v) on a plane, so bilinear inverse-depth sampling is exact off edges
    grid = (uv[inside] / torch.tensor([W - 1, H - 1], dtype=torch.float64) * 2 - 1).float().view(1, 1, -1, 2)
    inv_b = F.grid_sample(dep_b.reciprocal().unsqueeze(1), grid, align_corners=True).view(-1)
    db = inv_b.double().reciprocal()
    zi = z[inside]
    visible = db > zi * 0.99  # not hidden behind a nearer surface in B
    assert inside.float().mean() > 0.5 and visible.float().mean() > 0.8
    agree = ((db - zi).abs() <= 0.01 * zi)[visible]
    assert agree.float().mean() > 0.9
    u, v = uv[inside, 0].round().long(), uv[inside, 1].round().long()
    col_a = rgb_a[0].reshape(-1, 3)[inside][visible][agree]
    col_b = rgb_b[0][v, u][visible][agree]
    assert (col_a - col_b).abs().median() < 0.03


def look_at(eye: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """c2w [N, 4, 4] float64 at eye [N, 3] whose optical axis passes through target [N, 3]."""
    z = target - eye
    z = z / z.norm(dim=-1, keepdim=True)
    x = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(z), z)
    x = x / x.norm(dim=-1, keepdim=True)
    y = torch.linalg.cross(z, x)
    T = torch.eye(4, dtype=torch.float64).repeat(eye.shape[0], 1, 1)
    T[:, :3, :3] = torch.stack([x, y, z], -1)
    T[:, :3, 3] = eye
    return T


def test_surface_points_look_the_same_from_other_cameras():
    """Exact view-independence: a 1x1 camera aimed at a surface point from elsewhere sees the same
    depth (its distance) and the same colour, unless something is in between."""
    scene = make_scene(9)
    H, W = 40, 56
    K = _K(H, W).to(torch.float64)
    rgb_a, dep_a = scene.render(torch.eye(4), K, H, W, t=0.4)
    gen = torch.Generator().manual_seed(0)
    sel = torch.randperm(H * W, generator=gen)[:300]
    pts = unproject_world(dep_a[0], K, torch.eye(4, dtype=torch.float64))[sel]
    eyes = torch.tensor([0.4, -0.3, 0.6], dtype=torch.float64) + 0.3 * torch.randn(300, 3, generator=gen, dtype=torch.float64)
    c2w = look_at(eyes, pts)
    K1 = torch.eye(3, dtype=torch.float64)  # 1x1 image: pixel (0, 0) is the optical axis
    rgb_b, dep_b = scene.render(c2w, K1, 1, 1, t=0.4)
    dist = (pts - eyes).norm(dim=-1)
    db = dep_b.reshape(-1).double()
    visible = db > dist * (1 - 1e-3)
    assert visible.float().mean() > 0.7
    assert ((db - dist).abs() < 1e-3 * dist)[visible].float().mean() > 0.97
    same_col = (rgb_b.reshape(-1, 3) - rgb_a[0].reshape(-1, 3)[sel]).abs().amax(-1) < 2e-3
    assert same_col[visible].float().mean() > 0.95


def test_supersample_keeps_centre_depth_and_averages_colour():
    scene = make_scene(5)
    K = _K(30, 40)
    rgb1, d1 = scene.render(torch.eye(4), K, 30, 40, supersample=1)
    rgb3, d3 = scene.render(torch.eye(4), K, 30, 40, supersample=3)
    rgb2, d2 = scene.render(torch.eye(4), K, 30, 40, supersample=2)
    assert rgb3.shape == rgb1.shape and d3.shape == d1.shape
    assert torch.allclose(d1, d3, rtol=1e-5) and torch.allclose(d1, d2, rtol=1e-5)
    assert (rgb1 - rgb3).abs().mean() < 0.06
    assert not torch.equal(rgb1, rgb3)
    # anti-aliasing smooths: neighbouring-pixel differences shrink
    grad = lambda im: (im[:, :, 1:] - im[:, :, :-1]).abs().mean()  # noqa: E731
    assert grad(rgb3) < grad(rgb1)


def test_texture_has_fine_detail_but_is_not_per_pixel_noise():
    """At 256 px a wall has visible texture, and it is spatially coherent (neighbours correlate)."""
    scene = make_scene(0, num_static=0, num_moving=0)
    K = _K(256, 256)
    rgb, _ = scene.render(torch.eye(4), K, 256, 256)
    patch = rgb[0, 100:156, 100:156].mean(-1)  # front wall, 7 m away
    assert patch.std() > 0.02
    a, b = patch[:, :-1].flatten(), patch[:, 1:].flatten()
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
    assert corr > 0.5


# ---------------------------------------------------------------------------- time
def _ray_point_distance(c2w: torch.Tensor, K: torch.Tensor, H: int, W: int, c) -> torch.Tensor:
    """Distance [H, W] from each pixel's centre ray (as an infinite line) to the point c."""
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    d = torch.stack([u, v, torch.ones_like(u)], -1) @ torch.linalg.inv(K).T @ c2w[:3, :3].T
    d = d / d.norm(dim=-1, keepdim=True)
    oc = torch.as_tensor(c, dtype=torch.float64) - c2w[:3, 3]
    return torch.linalg.cross(d, oc.expand_as(d)).norm(dim=-1)


@pytest.mark.parametrize("seed", [0, 11])
def test_moving_object_changes_image_static_pixels_do_not(seed):
    scene = make_scene(seed)
    movers = [p for p in scene.primitives if p.moving]
    assert movers, "every scene needs a moving object"
    H, W = 64, 96
    K = _K(H, W, 75.0).to(torch.float64)
    c2w = torch.eye(4, dtype=torch.float64)
    rgb, depth = scene.render(torch.stack([c2w, c2w]), K, H, W, t=torch.tensor([0.0, 1.0]))
    near = torch.zeros(H, W, dtype=torch.bool)
    through = torch.zeros(H, W, dtype=torch.bool)
    for p in movers:
        reach = math.sqrt(sum(s * s for s in p.size))  # bounding-sphere radius
        for t in (0.0, 1.0):
            dist = _ray_point_distance(c2w, K, H, W, p.center_at(t))
            near |= dist < reach + 0.25
        through |= _ray_point_distance(c2w, K, H, W, p.center_at(1.0)) < 0.5 * min(p.size)
    changed = (rgb[0] - rgb[1]).abs().amax(-1) > 1e-6
    assert changed.any()
    assert torch.equal(rgb[0][~near], rgb[1][~near]) and torch.equal(depth[0][~near], depth[1][~near])
    assert (~near).float().mean() > 0.5
    # where the mover is visible at t=1 (ray through its core and its depth), the pixel changed
    core = through & (depth[1] < depth[0] - 0.05)
    assert core.sum() > 0 and changed[core].all()


def test_motion_is_periodic():
    scene = make_scene(4)
    K = _K(24, 32)
    mover = [p for p in scene.primitives if p.moving][0]
    a = scene.render(torch.eye(4), K, 24, 32, t=0.5)[1]
    b = scene.render(torch.eye(4), K, 24, 32, t=0.5 + mover.period)[1]
    assert torch.allclose(a, b, atol=1e-4)


# ---------------------------------------------------------------------------- paths and free space
@pytest.mark.parametrize("kind", PATH_KINDS)
@pytest.mark.parametrize("scene_kind", ["room", "street"])
def test_source_paths_start_at_identity_and_stay_free(kind, scene_kind):
    for seed in (0, 1, 2):
        scene = make_scene(seed, scene_kind)
        c2w = scene.source_path(kind, 40)
        assert c2w.shape == (40, 4, 4) and c2w.dtype == torch.float64
        assert torch.equal(c2w[0], torch.eye(4, dtype=torch.float64))
        R = c2w[:, :3, :3]
        assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(40, 3, 3), atol=1e-12)
        pos = c2w[:, :3, 3]
        for t in (0.0, 0.9, 2.1, 3.3):
            assert scene.is_free(pos, radius=0.3, t=t).all()
            assert (scene.distance(pos, t=t, include_room=False) >= 1.2).all()


def test_source_path_shapes_of_motion():
    scene = make_scene(0)
    pan = scene.source_path("pan", 41)
    yaw = torch.atan2(pan[:, 0, 2], pan[:, 2, 2]).rad2deg()
    assert 12 < yaw.max() < 18 and -18 < yaw.min() < -12 and torch.equal(pan[:, :3, 3], torch.zeros(41, 3).double())
    dolly = scene.source_path("dolly", 20)
    assert dolly[-1, 2, 3] == pytest.approx(0.8) and torch.all(dolly[1:, 2, 3] >= dolly[:-1, 2, 3])
    orbit = scene.source_path("orbit", 41)
    fwd, pos = orbit[:, :3, 2], orbit[:, :3, 3]
    target = pos + 3.0 * fwd
    assert torch.allclose(target, torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64).expand(41, 3), atol=1e-9)
    ang = torch.atan2(fwd[:, 0], fwd[:, 2]).rad2deg()
    assert 8 < ang.max() < 12 and -12 < ang.min() < -8
    assert scene.source_path("static", 1).shape == (1, 4, 4)


def test_is_free_agrees_with_rendered_depth():
    """Just before the rendered surface along each ray is free space; just beyond is not."""
    scene = make_scene(6)
    H, W = 24, 32
    K = _K(H, W).to(torch.float64)
    c2w = pose(-5.0, (0.2, 0.0, 0.3))
    for t in (0.0, 1.3):
        _, depth = scene.render(c2w, K, H, W, t=t)
        d = depth[0].double()
        before = unproject_world(d - 0.02, K, c2w)
        beyond = unproject_world(d + 0.02, K, c2w)
        assert scene.is_free(before, t=t).all()
        assert not scene.is_free(beyond, t=t).any()


def test_is_free_radius_and_outside_room():
    scene = scene_with(Primitive("sphere", (0.0, 0.0, 4.0), (1.0, 1.0, 1.0), GREY))
    pts = torch.tensor([[0.0, 0.0, 2.5], [0.0, 0.0, 4.0], [0.0, 0.0, 9.0], [2.5, 0.0, 0.0]])
    assert scene.is_free(pts).tolist() == [True, False, False, True]
    assert scene.is_free(pts, radius=0.6).tolist() == [False, False, False, False]
    assert scene.is_free(pts, radius=0.4).tolist() == [True, False, False, True]


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_generated_objects_respect_layout_rules(seed):
    scene = make_scene(seed)
    floor = scene.bounds[1][1]
    static = [p for p in scene.primitives if not p.moving]
    assert 4 <= len(static) <= 8
    assert any(p.moving for p in scene.primitives)
    for p in static:
        assert 1.8 <= p.center[2] <= 6.5
        assert p.center[1] + p.size[1] == pytest.approx(floor)  # standing on the floor
    # objects do not intersect: sample each object's interior, check every other object's distance
    g = torch.linspace(-0.95, 0.95, 7, dtype=torch.float64)
    cube = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    for i, p in enumerate(scene.primitives):
        others = scene_with(*[q for j, q in enumerate(scene.primitives) if j != i])
        for t in (0.0, 1.0, 2.0, 3.0):
            rot = torch.tensor([[math.cos(p.yaw), 0, math.sin(p.yaw)], [0, 1, 0], [-math.sin(p.yaw), 0, math.cos(p.yaw)]],
                               dtype=torch.float64)
            pts = (cube * torch.tensor(p.size, dtype=torch.float64)) @ rot.T + torch.from_numpy(p.center_at(t))
            assert (others.distance(pts, t=t, include_room=False) > 0).all()
            assert scene.is_free(torch.from_numpy(p.center_at(t)).reshape(1, 3), t=t).item() is False
