"""Preprocessing that survives hard clips (issue 12): the SfM ladder, the focal search, an
honest fallback (bounded rotations, a prior that is never flat, the guessed frames named)
and the far mask (sky and distant background), with its round trip through the disk cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inspatio_gym.geometry.camera import intrinsics_from_fov
from inspatio_gym.recon import disk_cache
from inspatio_gym.recon.far import far_mask
from inspatio_gym.recon.parallax import ParallaxReport, homography_rotations
from inspatio_gym.recon.preprocess import (PreprocessSettings, Preprocessed, _fallback, _pixel_map, frame_ranges,
                                           preprocess_video, sfm_ladder)
from inspatio_gym.recon.prior import ground_plane_prior
from inspatio_gym.recon.sfm import SfmError, SfmResult, rescale_result

from .conftest import REAL
from .test_recon import relative, render, rotation_errors_deg, write_avi

W, H, T = 160, 120, 24


def _rot_x(deg: float) -> np.ndarray:
    return Rotation.from_euler("x", deg, degrees=True).as_matrix()


def _rot_y(deg: float) -> np.ndarray:
    return Rotation.from_euler("y", deg, degrees=True).as_matrix()


def _homography(K: np.ndarray, R_c2w: np.ndarray) -> np.ndarray:
    """Frame 0 -> frame i of a camera that only rotates (c2w rotation R_c2w): K R^T K^-1."""
    return K @ R_c2w.T @ np.linalg.inv(K)


def _project(K: np.ndarray, c2w: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (OpenCV centres) of points X [P, 3] in camera c2w, and which lie in front."""
    w2c = np.linalg.inv(c2w)
    Xc = X @ w2c[:3, :3].T + w2c[:3, 3]
    p = Xc @ K.T
    return p[:, :2] / p[:, 2:3], Xc[:, 2] > 0.1


# ---------------------------------------------------------------- 1. the SfM ladder


def test_ladder_order_and_never_above_the_source():
    rungs = sfm_ladder(24, 320, 1920)
    assert [(r.long_side, r.matcher) for r in rungs] == [
        (320, "sequential"), (320, "exhaustive"), (640, "sequential"), (640, "exhaustive"),
        (1024, "sequential"), (1024, "exhaustive")]
    assert len(rungs[0].attempts) == 4
    long = sfm_ladder(100, 320, 480)  # a long clip: no exhaustive matching; the source caps the long side
    assert [(r.long_side, r.matcher) for r in long] == [(320, "sequential"), (480, "sequential")]
    assert [(r.long_side, r.matcher) for r in sfm_ladder(100, 320, 320)] == [(320, "sequential")]
    assert [r.long_side for r in sfm_ladder(100, 320, 900)] == [320, 640, 900]


def test_rescaled_result_projects_like_the_kept_frames():
    """SfM at a higher long side: K and the sparse uv expressed at the frames' size must be the
    projection with the frames' own intrinsics."""
    src, hi, lo = (1920, 1080), (1024, 576), (320, 180)
    K_hi, K_lo = intrinsics_from_fov(*hi, 64.0), intrinsics_from_fov(*lo, 64.0)
    rng = np.random.default_rng(0)
    X = rng.uniform([-2, -1, 3], [2, 1, 8], (50, 3))
    c2w = np.eye(4)
    uv_hi, _ = _project(K_hi, c2w, X)
    r = SfmResult(frame_ids=np.array([0]), c2w=c2w[None], K=K_hi, points=X, obs_frame=np.zeros(50, int), obs_uv=uv_hi,
                  obs_point=np.arange(50), reproj_error=0.3, focal_refined=False, seconds=0.0)
    out = rescale_result(r, *_pixel_map(src, hi, lo))
    np.testing.assert_allclose(out.K, K_lo, atol=1e-9)
    np.testing.assert_allclose(out.obs_uv, _project(K_lo, c2w, X)[0], atol=1e-9)
    with pytest.raises(ValueError, match="scale factors must be positive"):
        rescale_result(r, 0.0, 1.0)


def _truth_sfm(world, size: tuple[int, int], n: int) -> SfmResult:
    """What a perfect SfM would return for the world's frames rendered at `size`."""
    K = intrinsics_from_fov(*size, 60.0)
    rng = np.random.default_rng(1)
    d = world.depth[0]
    v, u = rng.integers(8, H - 8, 400), rng.integers(8, W - 8, 400)
    rays = np.stack([u, v, np.ones_like(u)], 1) @ np.linalg.inv(world.K).T
    X = rays * d[v, u, None]  # points of frame 0 (world = camera 0)
    c2w = relative(world.c2w)[:n]
    of, uv, op = [], [], []
    for i in range(n):
        p, ok = _project(K, c2w[i], X)
        ok &= (p[:, 0] > 0) & (p[:, 0] < size[0] - 1) & (p[:, 1] > 0) & (p[:, 1] < size[1] - 1)
        of += [i] * int(ok.sum())
        uv.append(p[ok])
        op.append(np.flatnonzero(ok))
    # COLMAP's pixel centres sit at +0.5: run_sfm hands back OpenCV ones, as here
    return SfmResult(frame_ids=np.arange(n), c2w=c2w, K=K, points=X, obs_frame=np.array(of), obs_uv=np.concatenate(uv),
                     obs_point=np.concatenate(op), reproj_error=0.2, focal_refined=False, seconds=0.0,
                     focal_search={"accepted": False, "reason": "test"})


def test_ladder_climbs_to_a_higher_long_side_and_keeps_the_frames_resolution(tmp_path, monkeypatch):
    """Every attempt at the frames' 80 px fails; the 160 px source succeeds: its poses are used,
    K is expressed at 80 px, the dense depth runs at the usual resolution, every attempt is in
    the report."""
    from inspatio_gym.recon import preprocess

    world = render("orbit")
    clip = write_avi(tmp_path / "orbit.avi", world.frames)
    seen: list[tuple[int, str, int]] = []

    def fake(frames, **kw):
        n, h, w = frames.shape[:3]
        seen.append((w, kw["matcher"], kw["seed"]))
        if w < W:
            raise SfmError(f"simulated failure at {w} px")
        return _truth_sfm(world, (w, h), n)

    monkeypatch.setattr(preprocess, "run_sfm", fake)
    s = PreprocessSettings(long_side=80, depth_long_side=48)
    pre = preprocess_video(clip, s, progress=False)
    r = pre.report
    assert r["fallback"] is None, r.get("fallback_reason")
    assert seen == [(80, "sequential", 0), (80, "sequential", 1), (80, "sequential", 2), (80, "sequential", 3),
                    (80, "exhaustive", 0), (80, "exhaustive", 1), (160, "sequential", 0)]
    assert [(a["long_side"], a["matcher"]) for a in r["sfm_attempts"]] == [(w, m) for w, m, _ in seen]
    assert all("error" in a for a in r["sfm_attempts"][:-1]) and r["sfm_attempts"][-1]["registered"] == T
    assert r["sfm_long_side"] == W and r["sfm_matcher"] == "sequential"
    assert pre.frames.shape == (T, 60, 80, 3) and pre.depth.shape == (T, 60, 80)
    np.testing.assert_allclose(pre.K, intrinsics_from_fov(80, 60, 60.0), atol=1e-9)
    assert r["anchor_median_ratio"] == pytest.approx(1.0, abs=0.05)  # the sparse uv landed on their pixels
    np.testing.assert_allclose(rotation_errors_deg(relative(world.c2w), pre.c2w), 0, atol=1e-6)
    assert r["guessed_frames"] == []


def test_a_sparse_reconstruction_is_no_registration(monkeypatch):
    """15 of 24 frames "registered" with 36 points is no reconstruction: the ladder goes on."""
    from inspatio_gym.recon import preprocess

    points = iter([36, 36, 5000])

    def run(frames, **kw):
        return _fake_sfm(np.linspace(1.0, 2.0, next(points)))

    monkeypatch.setattr(preprocess, "run_sfm", run)
    report: dict = {}
    best = preprocess._sfm_with_retries(np.zeros((24, 8, 8, 3), np.uint8), PreprocessSettings(), report)
    assert len(best.points) == 5000
    assert [a.get("error", "")[:11] for a in report["sfm_attempts"]] == ["too sparse:", "too sparse:", ""]


def _fake_sfm(z: np.ndarray):
    """An SfM result of 15 frames at the origin whose points lie at depths z, each seen once by frame 0."""
    from types import SimpleNamespace

    n = len(z)
    return SimpleNamespace(frame_ids=np.arange(15), reproj_error=0.5, K=np.eye(3), focal_refined=False,
                           points=np.column_stack([np.zeros(n), np.zeros(n), z]), c2w=np.tile(np.eye(4), (15, 1, 1)),
                           obs_frame=np.zeros(n, np.int64), obs_point=np.arange(n), obs_uv=np.zeros((n, 2)),
                           seconds=0.0, focal_search={})


def test_a_collapsed_reconstruction_is_no_registration(monkeypatch):
    """Every frame registered but a tenth of the points thrown 1000x further than the median
    (a collapsed map: its plane sweep put 90% of the pixels at the far plane) is refused
    naming its depth spread, and the ladder goes on to the next attempt."""
    from inspatio_gym.recon import preprocess

    sound = np.linspace(1.0, 2.0, 5000)
    collapsed = np.concatenate([sound[:4000], np.full(1000, 1500.0)])
    clouds = iter([collapsed, sound])
    monkeypatch.setattr(preprocess, "run_sfm", lambda frames, **kw: _fake_sfm(next(clouds)))
    report: dict = {}
    best = preprocess._sfm_with_retries(np.zeros((24, 8, 8, 3), np.uint8), PreprocessSettings(), report)
    assert best.points[:, 2].max() == 2.0
    first, second = report["sfm_attempts"]
    assert first["error"].startswith("collapsed: the sparse points' 95th-percentile depth is ") and first["depth_spread"] > 100
    assert "error" not in second and second["depth_spread"] == pytest.approx(np.percentile(sound, 95) / np.median(sound), abs=0.01)
    assert preprocess.depth_spread(_fake_sfm(np.array([-1.0, -2.0]))) == float("inf")  # nothing in front


@pytest.mark.slow
def test_ladder_with_colmap_recovers_from_a_tiny_long_side(tmp_path):
    """Real COLMAP: at 40 px no attempt registers half the frames; the ladder climbs to the
    160 px source and the poses match the ground truth."""
    world = render("orbit")
    clip = write_avi(tmp_path / "orbit.avi", world.frames)
    pre = preprocess_video(clip, PreprocessSettings(long_side=40, depth_long_side=40), progress=False)
    r = pre.report
    assert r["fallback"] is None, r.get("fallback_reason")
    assert r["sfm_long_side"] == W and r["registered"] >= T // 2
    assert any(a["long_side"] == 40 for a in r["sfm_attempts"])
    assert pre.K[0, 0] == pytest.approx(intrinsics_from_fov(40, 30, 60.0)[0, 0], rel=0.05)
    rot = rotation_errors_deg(relative(world.c2w), pre.c2w)
    assert rot.mean() <= 1.0, rot


# ---------------------------------------------------------------- 2. the focal search


@pytest.fixture(scope="module")
def wide_orbit(tmp_path_factory):
    """An orbit rendered at 64 deg (its focal 7.6% shorter than the 60 deg prior's), 320 px."""
    import torch

    from inspatio_gym.world.sources import procedural_world

    torch.set_num_threads(1)
    w = procedural_world(seed=101, kind="room", path="orbit", num_frames=48, width=320, height=240, fov=64.0)
    return w, write_avi(tmp_path_factory.mktemp("wide") / "wide.avi", w.frames)


@pytest.mark.slow
def test_focal_search_recovers_a_known_focal(wide_orbit):
    world, clip = wide_orbit
    pre = preprocess_video(clip, PreprocessSettings(), progress=False)
    r = pre.report
    assert r["fallback"] is None and r["focal_refined"] is True, r["focal_search"]
    assert r["focal_prior_px"] == pytest.approx(277.128, abs=1e-3)
    assert abs(pre.K[0, 0] / world.K[0, 0] - 1) < 0.01, (pre.K[0, 0], world.K[0, 0], r["focal_search"])
    assert pre.K[1, 1] == pre.K[0, 0]
    rot = rotation_errors_deg(relative(world.c2w), pre.c2w)
    assert rot.mean() <= 0.3, rot


@pytest.mark.slow
def test_focal_search_keeps_the_prior_without_it(wide_orbit):
    world, clip = wide_orbit
    pre = preprocess_video(clip, PreprocessSettings(focal_search=False), progress=False)
    assert pre.report["focal_refined"] is False and pre.K[0, 0] == pytest.approx(277.128, abs=1e-3)
    with pytest.raises(ValueError, match="focal_search must be True or False"):
        PreprocessSettings(focal_search=1)


def _worker_module():
    """colmap_worker.py as a module (it runs as a child process and is never imported by the package)."""
    import importlib.util

    import inspatio_gym.recon.sfm as sfm

    spec = importlib.util.spec_from_file_location("colmap_worker_under_test", sfm._WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("second, kept", [
    ({"accepted": True, "focal_px": 251.0, "reason": "a curved error minimum"}, 251.0),
    ({"accepted": False, "consistent": True, "focal_px": 250.0, "reason": "flat error profile"}, 250.0),
    ({"accepted": False, "consistent": True, "focal_px": 250.0,
      "reason": "the focal search did not lower the reprojection error"}, 250.0),
    ({"accepted": False, "focal_px": 250.0, "reason": "refining the focal length left the scan's minimum"}, 277.0),
    (None, 277.0),  # the subset no longer maps at the estimate
])
def test_focal_second_round_confirms_or_the_prior_stays(second, kept, monkeypatch):
    """A first-round focal 10% short of the prior (250 px for 277) is searched again from the subset mapped at it: kept
    when that round agrees, the prior (and the map made at it) when it contradicts it."""
    cw = _worker_module()
    first_map, second_map = object(), object()
    maps = iter([first_map, None if second is None else second_map])
    db_focal = []
    monkeypatch.setattr(cw, "_map", lambda *a, **k: next(maps))
    monkeypatch.setattr(cw, "_sound", lambda rec: rec is not None)
    monkeypatch.setattr(cw, "_set_focal", lambda pycolmap, db, f: db_focal.append(f))

    def estimate(pycolmap, rec, prior):
        if rec is first_map:
            return {"accepted": True, "focal_px": 250.0, "prior_px": prior, "reason": "a curved error minimum"}, "at"
        return dict(second), rec

    monkeypatch.setattr(cw, "_estimate_focal", estimate)
    search, start = cw._focal_and_start(None, Path("db"), Path("img"), Path("work"), [f"{i}" for i in range(8)],
                                        277.0, lambda: None)
    assert search["focal_px"] == kept and db_focal[0] == 250.0
    assert search["accepted"] is (kept != 277.0), search
    if kept == 277.0:
        assert db_focal[-1] == 277.0 and start is first_map and "the prior stays" in search["reason"]
    else:
        assert start is second_map and "second_round" in search


# ---------------------------------------------------------------- 3. an honest fallback


def test_homography_rotations_hold_when_tracking_is_lost():
    """A pan tracked for 10 frames, then 5 corners left whose homography says -60 deg: the last
    trusted rotation is held (never extrapolated) and the held frames are named."""
    K = intrinsics_from_fov(W, H, 60.0)
    N = 16
    yaw = np.r_[np.linspace(0, 9, 10), np.full(N - 10, -60.0)]
    Hs = np.stack([_homography(K, _rot_y(a)) for a in yaw])
    inliers = np.r_[np.full(10, 200), np.full(N - 10, 5)]
    track = homography_rotations(Hs, K, inliers)
    angles = np.array([np.degrees(Rotation.from_matrix(c[:3, :3]).magnitude()) for c in track.c2w])
    np.testing.assert_allclose(angles[:10], yaw[:10], atol=1e-6)
    np.testing.assert_allclose(angles[10:], 9.0, atol=1e-6)  # held, not -60
    assert track.held.tolist() == [False] * 10 + [True] * (N - 10)
    assert track.reasons == {"too_few_inliers": N - 10}


def test_homography_rotations_reject_jumps_shear_and_turns_beyond_the_view():
    K = intrinsics_from_fov(W, H, 60.0)
    yaw = [0, 2, 4, 40, 6, 8]  # frame 3 jumps 36 deg in one frame
    Hs = np.stack([_homography(K, _rot_y(a)) for a in yaw])
    Hs[5] = Hs[5] @ np.array([[1.0, 0.6, 0], [0, 1, 0], [0, 0, 1]])  # a shear is no rotation
    track = homography_rotations(Hs, K, np.full(6, 100))
    assert track.held.tolist() == [False, False, False, True, False, True]
    assert track.reasons == {"implausible_jump": 1, "not_a_rotation": 1}
    # turning past the diagonal field of view (~74 deg here) in small steps: no corner of frame 0 could be seen
    far = np.arange(0, 100, 5.0)
    track = homography_rotations(np.stack([_homography(K, _rot_y(a)) for a in far]), K, np.full(len(far), 100))
    angles = np.array([np.degrees(Rotation.from_matrix(c[:3, :3]).magnitude()) for c in track.c2w])
    assert angles.max() <= 75 and track.reasons.get("beyond_field_of_view", 0) > 0


def test_fallback_prior_is_never_flat_as_the_camera_pitches_up():
    """A rotation-only clip that tilts from level to 70 deg up (no floor in view): every frame's
    depth varies, stays positive, and the part above the horizon is far."""
    K = intrinsics_from_fov(W, H, 60.0)
    pitch = np.arange(0, 75, 5.0)
    Hs = np.stack([_homography(K, _rot_x(a)) for a in pitch])  # +x rotation: the camera looks up
    par = ParallaxReport(motion_px=50.0, parallax_px=0.1, homographies=Hs, tracked=100, inliers=np.full(len(pitch), 100))
    report: dict = {}
    depth, c2w, far = _fallback(np.zeros((len(pitch), H, W, 3), np.uint8), K, par, "rotation only", report)
    looks_up = [c[1, 2] < 0 for c in c2w[1:]]  # the optical axis' world y (down) goes negative
    assert all(looks_up)
    for i, d in enumerate(depth):
        assert (d > 0).all() and np.isfinite(d).all()
        assert d.std() > 0.01 * d.mean() and d.max() > 1.05 * d.min(), f"frame {i} (pitch {pitch[i]}) is flat"
    assert far[0, 0].all() and not far[0, -1].any()  # level: sky on top, floor at the bottom
    assert far[-1].all()  # pitched 70 deg up: only sky
    assert report["guessed_frames"] == [[0, len(pitch) - 1]]  # the prior's depth is a guess everywhere
    assert report["rotation_held_frames"] == []
    d, sky = ground_plane_prior(H, W, K, np.eye(4))  # level: sky above the horizon and where the floor is > 8 away
    f = K[1, 1]
    beyond = int(np.ceil(K[1, 2] + f * np.hypot(1, W / (2 * f)) / 8))  # the floor 8 away, at the image's edge
    assert sky[: H // 2].all() and not sky[beyond + 1:].any()


def _lost_pan_clip(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """The procedural pan whose last 8 frames are noise (tracking lost): clip and ground truth."""
    pan = render("pan")
    frames = pan.frames.copy()
    rng = np.random.default_rng(0)
    frames[-8:] = rng.integers(0, 256, frames[-8:].shape, dtype=np.uint8)
    return write_avi(tmp_path / "lost.avi", frames), relative(pan.c2w)


def test_lost_tracking_keeps_rotations_bounded_and_names_the_frames(tmp_path, monkeypatch):
    """No corner survives the noise, so the parallax is unknown and SfM decides; it fails here
    (COLMAP finds no initial pair in a pan: simulated, to keep the test fast) and the fallback's
    rotations must hold at the last trusted one."""
    from inspatio_gym.recon import preprocess

    def no_pair(frames, **kw):
        raise SfmError("no initial image pair could be reconstructed")

    monkeypatch.setattr(preprocess, "run_sfm", no_pair)
    clip, gt = _lost_pan_clip(tmp_path)
    pre = preprocess_video(clip, PreprocessSettings(long_side=W, depth_long_side=96), progress=False)
    r = pre.report
    assert r["fallback"] == "ground_plane_prior" and r["poses"] == "homography_rotations", r.get("fallback_reason")
    assert r["parallax_known"] is False and "SfM failed" in r["fallback_reason"]
    angles = np.array([np.degrees(Rotation.from_matrix(c[:3, :3]).magnitude()) for c in pre.c2w])
    assert angles.max() <= 16.0, angles  # the pan never turns more than 15 deg
    rot = rotation_errors_deg(gt, pre.c2w)
    assert rot[:T - 8].mean() <= 1.0, rot
    held = [i for a, b in r["rotation_held_frames"] for i in range(a, b + 1)]
    assert set(range(T - 8, T)) <= set(held), r["rotation_held_frames"]
    assert r["guessed_pose_frames"] == r["rotation_held_frames"] and r["guessed_frames"] == [[0, T - 1]]
    for d in pre.depth:
        assert d.std() > 0 and (d > 0).all()


def test_frame_ranges():
    assert frame_ranges([5, 0, 1, 2, 2]) == [[0, 2], [5, 5]]
    assert frame_ranges([]) == []


# ---------------------------------------------------------------- 4. far pixels


def _sky_scene(n: int = 3, textured_sky: bool = False, anchors_in_sky: bool = False):
    """Frames with a smooth sky over a textured ground; the sweep measured the ground only."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    frames = np.stack([cv2.GaussianBlur(f, (3, 3), 0) for f in frames])
    sky = np.zeros((H, W), bool)
    sky[: H // 3] = True
    if not textured_sky:
        frames[:, sky] = (150, 190, 235)
    kept = np.repeat((~sky)[None], n, 0) if not textured_sky else np.ones((n, H, W), bool)
    depth = np.where(sky, 2.0, 1.0).astype(np.float32)[None].repeat(n, 0)
    K = intrinsics_from_fov(W, H, 60.0)
    c2w = np.repeat(np.eye(4)[None], n, 0)
    m = 300
    uv = np.stack([rng.uniform(0, W - 1, m), rng.uniform(0, H // 3 - 1, m) if anchors_in_sky else
                   rng.uniform(H // 3 + 2, H - 1, m)], 1)
    return frames, depth, kept, K, c2w, (rng.integers(0, n, m), uv), sky


def test_far_mask_flags_an_unmeasured_smooth_sky():
    frames, depth, kept, K, c2w, anchors, sky = _sky_scene()
    far = far_mask(frames, depth, kept, K, c2w, far_plane=5.0, anchors=anchors)
    assert far.shape == depth.shape and far.dtype == bool
    above = sky.copy()
    above[H // 2 - 4:] = False  # the horizon (+2 deg) is a few rows above the centre
    assert far[:, above].mean() > 0.95
    assert not far[:, H // 2:].any()


@pytest.mark.parametrize("case", ["textured", "anchored", "low_patch", "deep_ground"])
def test_far_mask_is_conservative(case):
    frames, depth, kept, K, c2w, anchors, sky = _sky_scene(textured_sky=case == "textured",
                                                          anchors_in_sky=case == "anchored")
    far_plane = 5.0
    if case == "low_patch":  # a smooth patch below the horizon, not touching the top: a white wall
        frames, kept = frames.copy(), kept.copy()
        frames[:, : H // 3] = np.random.default_rng(1).integers(0, 256, frames[:, : H // 3].shape, dtype=np.uint8)
        kept[:, : H // 3] = True
        frames[:, 70:100, 40:100] = 200
        kept[:, 70:100, 40:100] = False
    far = far_mask(frames, depth, kept, K, c2w, far_plane, anchors)
    if case == "deep_ground":  # the ground's depth reaches the far end of the sweep: beyond the range
        deep = np.where(sky, 2.0, 4.5).astype(np.float32)[None].repeat(len(frames), 0)
        far2 = far_mask(frames, deep, kept, K, c2w, far_plane, anchors)
        assert far2[:, H // 3:].mean() > 0.99
        return
    assert far.mean() < 0.005, case
    with pytest.raises(ValueError, match="far_plane must be a positive depth"):
        far_mask(frames, depth, kept, K, c2w, 0.0, anchors)


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    """The procedural street (facades, sky ceiling 12 m up) on a dolly, with its sky pixels."""
    import torch

    from inspatio_gym.world.sources import procedural_world

    torch.set_num_threads(1)
    w = procedural_world(seed=0, kind="street", path="dolly", num_frames=T, width=W, height=H)
    v, u = np.mgrid[:H, :W].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(w.K).T
    Xw = np.einsum("tij,thwj->thwi", w.c2w[:, :3, :3], rays[None] * w.depth[..., None]) + w.c2w[:, None, None, :3, 3]
    clip = write_avi(tmp_path_factory.mktemp("street") / "street.avi", w.frames)
    return w, clip, Xw[..., 1] < -11.5


@pytest.mark.slow
def test_far_mask_on_a_street_with_sky(street):
    world, clip, sky = street
    pre = preprocess_video(clip, PreprocessSettings(long_side=W, depth_long_side=96), progress=False)
    assert pre.report["fallback"] is None
    far = pre.far
    assert far.shape == pre.depth.shape and far.dtype == bool
    assert sky.mean() > 0.03  # the clip has sky
    recall = (far & sky).sum() / sky.sum()
    precision = (far & (world.depth > 15)).sum() / max(far.sum(), 1)  # sky or the street's far end
    assert recall >= 0.5 and precision >= 0.95, (recall, precision)
    assert pre.report["far_fraction"] == pytest.approx(far.mean(), abs=1e-4)


@pytest.mark.slow
def test_far_mask_indoors_is_almost_empty(tmp_path):
    world = render("orbit")
    pre = preprocess_video(write_avi(tmp_path / "room.avi", world.frames),
                           PreprocessSettings(long_side=W, depth_long_side=96), progress=False)
    assert pre.report["fallback"] is None and pre.far.mean() < 0.01, pre.far.mean()


@pytest.mark.slow
def test_far_mask_on_seven_scenes_is_almost_empty():
    folder = REAL / "7scenes_redkitchen" / "frames"
    if not folder.exists():
        pytest.skip(f"shared test data not present: {folder}")
    pre = preprocess_video(folder, PreprocessSettings(), progress=False)
    assert pre.report["fallback"] is None and pre.far.mean() < 0.01, pre.report["far_fraction"]


# ---------------------------------------------------------------- 5. the cache keeps far


def test_cache_round_trips_far_and_loads_entries_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPATIO_GYM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    far = rng.random((2, 6, 8)) > 0.5
    pre = Preprocessed(frames=np.zeros((2, 6, 8, 3), np.uint8), depth=np.ones((2, 6, 8), np.float32), K=np.eye(3),
                       c2w=np.repeat(np.eye(4)[None], 2, 0), fps=10.0, report={"guessed_frames": [[0, 1]]}, far=far)
    d = disk_cache.save_entry("k1", pre)
    back = disk_cache.load_entry("k1")
    np.testing.assert_array_equal(back.far, far)
    assert back.report["guessed_frames"] == [[0, 1]]
    disk_cache.save_entry("k0", replace(pre, far=None))  # an entry of the old format: no far array
    with np.load(tmp_path / "cache" / "worlds" / "k0" / "geometry.npz") as z:
        assert "far" not in z.files
    assert disk_cache.load_entry("k0").far is None
    # a far mask of the wrong shape is damage: the entry is discarded
    geo = dict(np.load(d / "geometry.npz"))
    geo["far"] = far[:, :3]
    np.savez(d / "geometry.npz", **geo)
    with pytest.warns(disk_cache.CacheWarning, match="far mask"):
        assert disk_cache.load_entry("k1") is None
    assert json.loads(json.dumps(frame_ranges([1, 2])))  # the report keys are plain JSON
