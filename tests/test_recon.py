"""A video becomes geometry (inspatio_gym.recon): accuracy against procedural ground truth,
the no-parallax fallback, the on-disk cache and its atomicity, bad input, imported
geometry, the preprocess/cache commands and the gym env on a preprocessed video.

Videos are written losslessly (FFV1 in .avi) so that accuracy measures geometry, not a codec.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inspatio_gym.recon import disk_cache
from inspatio_gym.recon.external import write_da3, write_folder, write_pi3
from inspatio_gym.recon.preprocess import PreprocessSettings, preprocess_video
from inspatio_gym.recon.sfm import SfmError
from inspatio_gym.recon.disk_cache import (
    CacheWarning,
    clear_entries,
    entry_key,
    list_entries,
    load_entry,
    preprocessed,
)
from inspatio_gym.world import DepthPriorWarning, NoParallaxWarning
from inspatio_gym.world.sources import procedural_world, video_world
from inspatio_gym.io.video import VideoError

W, H, T = 160, 120, 24
# threads=1: COLMAP's mapper is only deterministic single-threaded (with 2 threads the same
# clip occasionally registers 10 of 24 frames and falls back); the accuracy test must not flake
SETTINGS = PreprocessSettings(long_side=160, depth_long_side=96, threads=1)
FAST = PreprocessSettings(long_side=96, depth_long_side=48)  # for clips that never reach SfM


def render(path: str, num_frames: int = T):
    """A procedural room video with exact geometry, rendered with one torch thread (two
    threads on two busy cores can take 10x longer: OpenMP waits on a descheduled thread)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return procedural_world(seed=0, kind="room", path=path, num_frames=num_frames, width=W, height=H)
    finally:
        torch.set_num_threads(threads)


def write_avi(path: Path, frames: np.ndarray, fps: float = 12.0) -> Path:
    """RGB uint8 frames [T, H, W, 3] to a lossless FFV1 .avi."""
    h, w = frames.shape[1:3]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert wr.isOpened(), "OpenCV cannot write FFV1"
    for f in frames:
        wr.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    wr.release()
    return path


@contextmanager
def recorded():
    """Every warning raised inside, as a list (filters set to 'always')."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def of(caught, category) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, category)]


@contextmanager
def reports_without_warning():
    """recon records a fallback in its report; the warning is the world's (see world_warns)."""
    with recorded() as caught:
        yield
    assert not of(caught, DepthPriorWarning), of(caught, DepthPriorWarning)


def world_warns(clip, settings: PreprocessSettings, match: str):
    """The world built from the clip's preprocessed geometry, asserting it warns NoParallaxWarning."""
    with pytest.warns(NoParallaxWarning, match=match):
        world = video_world(clip, 64, 64, progress=False, preprocess=asdict(settings))
    assert world.depth_source == "ground_plane_prior"
    return world


def rotation_errors_deg(gt: np.ndarray, est: np.ndarray) -> np.ndarray:
    return np.array([np.degrees(Rotation.from_matrix(g[:3, :3].T @ e[:3, :3]).magnitude()) for g, e in zip(gt, est)])


def relative(c2w: np.ndarray) -> np.ndarray:
    return np.linalg.inv(c2w[0]) @ c2w


def delta_125(depth: np.ndarray, gt: np.ndarray) -> float:
    """Fraction of valid ground-truth pixels with max(d/g, g/d) < 1.25 (d and g both positive)."""
    valid = np.isfinite(gt) & (gt > 0)
    d, g = depth[valid].astype(np.float64), gt[valid].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d > 0, np.maximum(d / g, g / d), np.inf)
    return float((ratio < 1.25).mean())


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def orbit_world():
    return render("orbit")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, orbit_world):
    d = tmp_path_factory.mktemp("clips")
    return {
        "orbit": write_avi(d / "orbit.avi", orbit_world.frames),
        "static": write_avi(d / "static.avi", np.repeat(orbit_world.frames[:1], 6, axis=0)),
    }


@pytest.fixture(scope="module")
def orbit_pre(clips):
    return preprocess_video(clips["orbit"], SETTINGS, progress=False)


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """An empty cache folder for this test alone; returns its worlds/ folder."""
    monkeypatch.setenv("INSPATIO_GYM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "worlds"


# ---------------------------------------------------------------- 1. accuracy


def test_orbit_poses_and_depth_match_ground_truth(orbit_world, orbit_pre):
    pre, gt_world = orbit_pre, orbit_world
    r = pre.report
    assert r["fallback"] is None, r
    assert r["size"] == [W, H] and r["frames"] == T
    assert r["registered"] == T
    assert pre.frames.shape == (T, H, W, 3) and pre.depth.shape == (T, H, W) and pre.c2w.shape == (T, 4, 4)
    np.testing.assert_allclose(pre.c2w[0], np.eye(4), atol=1e-12)
    assert abs(pre.K[0, 0] / gt_world.K[0, 0] - 1) < 0.05  # the focal length (prior or refined)

    gt = relative(gt_world.c2w)
    rot = rotation_errors_deg(gt, pre.c2w)
    assert rot.mean() <= 1.0, f"mean rotation error {rot.mean():.3f} deg"
    assert rot.max() <= 2.0, f"max rotation error {rot.max():.3f} deg"

    tg, te = gt[:, :3, 3], pre.c2w[:, :3, 3]
    s_pose = float((te * tg).sum() / (te * te).sum())  # least-squares scale est -> gt
    path_len = float(np.linalg.norm(np.diff(tg, axis=0), axis=1).sum())
    terr = np.linalg.norm(s_pose * te - tg, axis=1) / path_len
    assert terr.mean() <= 0.02, f"mean translation error {terr.mean():.4f} x path length"
    assert terr.max() <= 0.05, f"max translation error {terr.max():.4f} x path length"

    valid = np.isfinite(gt_world.depth) & (gt_world.depth > 0)
    assert (pre.depth > 0).all() and np.isfinite(pre.depth).all()
    s_depth = float(np.median(gt_world.depth[valid] / pre.depth[valid]))
    delta = delta_125(pre.depth * s_depth, gt_world.depth)
    assert delta >= 0.8, f"delta<1.25 = {delta:.3f}"
    # poses and depth share one scale: the depth's alignment scale fits the translations too
    assert abs(s_depth / s_pose - 1) < 0.1, (s_depth, s_pose)
    print(f"\norbit {W}x{H}x{T}: rotation error mean {rot.mean():.3f} max {rot.max():.3f} deg; translation error "
          f"mean {terr.mean():.4f} max {terr.max():.4f} x path; delta<1.25 {delta:.3f}; scales {s_depth:.3f}/{s_pose:.3f}")


# ---------------------------------------------------------------- 2. no parallax


def test_pan_falls_back_with_homography_rotations(tmp_path):
    pan = render("pan")
    gt = relative(pan.c2w)
    assert np.abs(gt[:, :3, 3]).max() == 0 and rotation_errors_deg(gt, np.repeat(np.eye(4)[None], T, 0)).max() > 10
    clip = write_avi(tmp_path / "pan.avi", pan.frames)
    with reports_without_warning():
        pre = preprocess_video(clip, SETTINGS, progress=False)
    assert pre.report["fallback"] == "ground_plane_prior"
    assert pre.report["poses"] == "homography_rotations"
    world_warns(clip, SETTINGS, "no usable parallax .*camera rotations from homographies")
    rot = rotation_errors_deg(gt, pre.c2w)
    assert rot.mean() <= 1.0, f"mean rotation error {rot.mean():.3f} deg"
    assert rot.max() <= 2.0, f"max rotation error {rot.max():.3f} deg"
    np.testing.assert_allclose(pre.c2w[:, :3, 3], 0, atol=1e-12)  # no translation is invented
    assert np.isfinite(pre.depth).all() and (pre.depth > 0).all()
    assert np.median(pre.depth) == pytest.approx(1.0, abs=1e-6)
    print(f"\npan: rotation error mean {rot.mean():.3f} max {rot.max():.3f} deg, parallax "
          f"{pre.report['parallax_px']} px ({pre.report['fallback_reason']})")


def test_static_video_falls_back_with_identity_poses(clips, own_cache):
    with reports_without_warning():
        pre = preprocess_video(clips["static"], SETTINGS, progress=False)
    first = world_warns(clips["static"], SETTINGS, "static")
    again = world_warns(clips["static"], SETTINGS, "static")  # a cache hit warns again
    assert first.meta["cache_hit"] is False and again.meta["cache_hit"] is True
    r = pre.report
    assert r["fallback"] == "ground_plane_prior" and r["poses"] == "static"
    assert "static camera" in r["fallback_reason"]
    assert pre.c2w.shape == (6, 4, 4)
    np.testing.assert_array_equal(pre.c2w, np.repeat(np.eye(4)[None], 6, 0))
    assert pre.depth.shape == (6, H, W) and pre.depth.dtype == np.float32
    assert np.isfinite(pre.depth).all() and (pre.depth > 0).all()
    assert np.median(pre.depth) == pytest.approx(1.0, abs=1e-6)
    assert pre.depth.max() > 2 * pre.depth.min()  # the prior has near floor and far backdrop


# ---------------------------------------------------------------- 3. cache


def test_cache_hit_miss_list_and_clear(clips, own_cache, monkeypatch, tmp_path):
    clip = tmp_path / "clip.avi"
    clip.write_bytes(clips["static"].read_bytes())
    calls = []
    real = disk_cache.preprocess_video
    allow = {"compute": True}

    def counting(*a, **kw):
        if not allow["compute"]:
            raise AssertionError("preprocess_video called on a cache hit")
        calls.append(a[0])
        return real(*a, **kw)

    monkeypatch.setattr(disk_cache, "preprocess_video", counting)
    with recorded():
        pre1, hit1 = preprocessed(clip, FAST, progress=False)
    assert hit1 is False and len(calls) == 1
    key = entry_key(clip, FAST)
    assert (own_cache / key / "geometry.npz").is_file() and (own_cache / key / "report.json").is_file()

    allow["compute"] = False
    t0 = time.perf_counter()
    pre2, hit2 = preprocessed(clip, FAST, progress=False)
    dt = time.perf_counter() - t0
    assert hit2 is True and len(calls) == 1
    for name in ("frames", "depth", "K", "c2w"):
        a, b = getattr(pre1, name), getattr(pre2, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert pre2.fps == pre1.fps
    assert pre2.report["fallback"] == pre1.report["fallback"] and pre2.report["key"] == key
    assert dt < 1.0, f"a cache hit took {dt:.3f} s"
    print(f"\ncache hit in {1000 * dt:.1f} ms")

    (entry,) = list_entries()
    assert entry["key"] == key and entry["frames"] == 6 and entry["fallback"] == "ground_plane_prior"
    assert entry["video"] == str(clip) and entry["bytes"] > pre1.frames.nbytes // 2

    allow["compute"] = True
    with recorded():
        _, hit_setting = preprocessed(clip, replace(FAST, fov=70.0), progress=False)
    assert hit_setting is False and len(calls) == 2

    frames = np.repeat(pre1.frames[:1], 6, axis=0).copy()
    frames[:, :4] = 255  # a few changed rows: other bytes, same name, same settings
    write_avi(clip, frames)
    assert entry_key(clip, FAST) != key
    with recorded():
        _, hit_bytes = preprocessed(clip, FAST, progress=False)
    assert hit_bytes is False and len(calls) == 3
    assert len(list_entries()) == 3

    assert clear_entries([key]) == 1
    assert key not in {e["key"] for e in list_entries()} and not (own_cache / key).exists()
    assert len(list_entries()) == 2
    assert clear_entries() == 2
    assert list_entries() == [] and list(own_cache.iterdir()) == []


# ---------------------------------------------------------------- 4. atomicity


class _NumpyProxy:
    """numpy, with savez replaced (disk_cache's view of numpy only)."""

    def __init__(self, savez):
        self.savez = savez

    def __getattr__(self, name):
        return getattr(np, name)


class _JsonProxy:
    def __init__(self, dumps):
        self.dumps = dumps
        self.loads = json.loads


@pytest.mark.parametrize("where", ["geometry.npz", "report.json"])
def test_interrupted_save_leaves_no_entry(clips, own_cache, monkeypatch, where):
    clip = clips["static"]
    key = entry_key(clip, FAST)
    seen = {}

    def half_savez(file, **arrays):
        np.savez(file, **arrays)
        p = Path(file)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # half a file, then Ctrl-C
        seen["tmp"] = p.parent
        raise KeyboardInterrupt

    def bad_dumps(obj, **kw):
        seen["tmp"] = next(own_cache.glob(".tmp-*"))
        assert (seen["tmp"] / "geometry.npz").stat().st_size > 0  # the arrays are already written
        raise KeyboardInterrupt

    if where == "geometry.npz":
        monkeypatch.setattr(disk_cache, "np", _NumpyProxy(half_savez))
    else:
        monkeypatch.setattr(disk_cache, "json", _JsonProxy(bad_dumps))
    with recorded(), pytest.raises(KeyboardInterrupt):
        preprocessed(clip, FAST, progress=False)
    assert seen["tmp"].name.startswith(".tmp-") and not seen["tmp"].exists()
    assert not (own_cache / key).exists()
    assert list(own_cache.iterdir()) == []  # no entry and no leftover .tmp-* folder
    assert list_entries() == [] and load_entry(key) is None

    monkeypatch.undo()
    monkeypatch.setenv("INSPATIO_GYM_CACHE", str(own_cache.parent))
    with recorded():
        pre, hit = preprocessed(clip, FAST, progress=False)
    assert hit is False and pre.frames.shape[0] == 6
    assert [e["key"] for e in list_entries()] == [key]
    again, hit = preprocessed(clip, FAST, progress=False)
    assert hit is True
    np.testing.assert_array_equal(again.depth, pre.depth)


def test_damaged_entry_is_discarded_and_rebuilt(clips, own_cache):
    clip = clips["static"]
    with recorded():
        pre, hit = preprocessed(clip, FAST, progress=False)
    assert hit is False
    key = entry_key(clip, FAST)
    npz = own_cache / key / "geometry.npz"
    size = npz.stat().st_size
    npz.write_bytes(npz.read_bytes()[: size // 3])
    with recorded() as caught:
        pre2, hit2 = preprocessed(clip, FAST, progress=False)
    msgs = of(caught, CacheWarning)
    assert len(msgs) == 1 and key in msgs[0] and "damaged" in msgs[0]
    assert hit2 is False  # recomputed, not read from the damaged file
    np.testing.assert_array_equal(pre2.depth, pre.depth)
    assert npz.stat().st_size == size
    assert load_entry(key) is not None
    _, hit3 = preprocessed(clip, FAST, progress=False)
    assert hit3 is True


def test_entry_with_inconsistent_arrays_is_discarded(clips, own_cache):
    clip = clips["static"]
    with recorded():
        pre, _ = preprocessed(clip, FAST, progress=False)
    key = entry_key(clip, FAST)
    np.savez(own_cache / key / "geometry.npz", frames=pre.frames, depth=pre.depth[:-1], K=pre.K, c2w=pre.c2w,
             fps=np.float64(pre.fps))
    with recorded() as caught:
        assert load_entry(key) is None
    assert len(of(caught, CacheWarning)) == 1 and not (own_cache / key).exists()


# ---------------------------------------------------------------- 5. bad input


def test_garbage_file_is_a_video_error_naming_it(tmp_path, own_cache):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match=re.escape(str(bad))):
        preprocess_video(bad, FAST, progress=False)
    with pytest.raises(VideoError, match="clip.mp4"):
        preprocessed(bad, FAST, progress=False)
    assert list_entries() == []  # nothing cached for a failure


def test_missing_video_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        preprocessed(missing, FAST, progress=False)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        preprocess_video(missing, FAST, progress=False)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        video_world(missing, 64, 64, progress=False)


def test_one_frame_video_falls_back(tmp_path, orbit_world):
    clip = write_avi(tmp_path / "one.avi", orbit_world.frames[:1])
    with reports_without_warning():
        pre = preprocess_video(clip, FAST, progress=False)
    world_warns(clip, FAST, r"one.frame")
    assert pre.report["frames"] == 1 and pre.report["fallback"] == "ground_plane_prior"
    assert pre.c2w.shape == (1, 4, 4)
    np.testing.assert_array_equal(pre.c2w[0], np.eye(4))
    assert pre.depth.shape == (1, 72, 96) and (pre.depth > 0).all()
    assert np.median(pre.depth) == pytest.approx(1.0, abs=1e-6)


def test_large_video_is_downscaled_to_long_side(tmp_path, orbit_world):
    big = np.stack([cv2.resize(f, (1600, 1200), interpolation=cv2.INTER_LINEAR) for f in orbit_world.frames[:3]])
    clip = write_avi(tmp_path / "big.avi", big)
    with recorded():
        pre = preprocess_video(clip, PreprocessSettings(long_side=160, depth_long_side=96), progress=False)
    assert pre.report["source_size"] == [1600, 1200]
    assert pre.report["size"] == [160, 120]
    assert pre.frames.shape == (3, 120, 160, 3) and pre.depth.shape == (3, 120, 160)
    assert pre.K[0, 2] == pytest.approx(79.5) and pre.K[1, 2] == pytest.approx(59.5)
    # downscaled with area averaging: close to the frames rendered at that size
    assert np.abs(pre.frames.astype(int) - orbit_world.frames[:3].astype(int)).mean() < 8


def test_sfm_failure_falls_back_with_a_warning(clips, own_cache, monkeypatch):
    from inspatio_gym.recon import preprocess

    calls = []

    def failing(frames, **kw):
        calls.append(len(frames))
        raise SfmError("simulated COLMAP crash")

    monkeypatch.setattr(preprocess, "run_sfm", failing)
    with reports_without_warning():
        pre = preprocess_video(clips["orbit"], SETTINGS, progress=False)
    # the clip had parallax: SfM was tried on every frame, once per step of the ladder (seeds /
    # initial angles, then exhaustive matching for this short clip; the source is no larger)
    ladder = preprocess.sfm_ladder(T, max(W, H), max(W, H))
    n = sum(len(rung.attempts) for rung in ladder)
    assert [rung.matcher for rung in ladder] == ["sequential", "exhaustive"]
    assert calls == [T] * n
    world_warns(clips["orbit"], SETTINGS, "SfM failed: simulated COLMAP crash")
    r = pre.report
    assert r["fallback"] == "ground_plane_prior" and r["poses"] == "homography_rotations"
    assert r["sfm_error"] == "; ".join(["simulated COLMAP crash"] * n)
    assert len(r["sfm_attempts"]) == n
    assert "SfM" in r["fallback_reason"]
    assert pre.c2w.shape == (T, 4, 4) and np.isfinite(pre.c2w).all()
    assert np.median(pre.depth) == pytest.approx(1.0, abs=1e-6)


def test_imported_geometry_frame_count_mismatch(tmp_path, orbit_world):
    clip = write_avi(tmp_path / "three.avi", orbit_world.frames[:3])
    folder = tmp_path / "geo"
    write_folder(folder, np.full((5, 30, 40), 2.0, np.float32))
    with pytest.raises(ValueError) as ei:
        video_world(clip, 64, 64, geometry=folder)
    msg = str(ei.value)
    assert "5 depth maps" in msg and "3 frames" in msg and str(folder) in msg


# ---------------------------------------------------------------- 6. imports


def _poses(n: int) -> np.ndarray:
    c2w = np.repeat(np.eye(4)[None], n, 0)
    for i in range(n):
        c2w[i, :3, :3] = Rotation.from_euler("xyz", [5 + 3 * i, -10 + 4 * i, 2 * i], degrees=True).as_matrix()
        c2w[i, :3, 3] = [1.0 + 0.3 * i, -0.5, 2.0 - 0.2 * i]
    return c2w


@pytest.mark.parametrize("fmt,writer", [("da3", write_da3), ("pi3", write_pi3)])
def test_imported_geometry_through_video_world(tmp_path, orbit_world, fmt, writer):
    frames = np.stack([cv2.resize(f, (96, 72), interpolation=cv2.INTER_AREA) for f in orbit_world.frames[:3]])
    clip = write_avi(tmp_path / "three.avi", frames)
    values = np.array([1.5, 2.5, 3.5])
    depth = np.broadcast_to(values[:, None, None], (3, 72, 96)).astype(np.float32)
    K = np.array([[80.0, 0, 47.5], [0, 80.0, 35.5], [0, 0, 1]])
    c2w = _poses(3)
    folder = tmp_path / fmt
    writer(folder, depth, c2w, K)
    world = video_world(clip, 64, 64, geometry=folder)
    assert world.depth_source == f"imported:{fmt}"
    assert world.frames.shape == (3, 64, 64, 3) and world.depth.shape == (3, 64, 64)
    for t, v in enumerate(values):
        np.testing.assert_allclose(world.depth[t], v, rtol=1e-4)
    np.testing.assert_allclose(world.c2w[0], np.eye(4), atol=1e-9)
    np.testing.assert_allclose(world.c2w, np.linalg.inv(c2w[0]) @ c2w, atol=1e-9)


@pytest.mark.parametrize("fmt,writer", [("da3", write_da3), ("pi3", write_pi3)])
def test_imported_intrinsics_fitted_once(tmp_path, orbit_world, fmt, writer):
    frames = np.stack([cv2.resize(f, (96, 72), interpolation=cv2.INTER_AREA) for f in orbit_world.frames[:3]])
    clip = write_avi(tmp_path / "three.avi", frames)
    K = np.array([[80.0, 0, 47.5], [0, 80.0, 35.5], [0, 0, 1]])
    writer(tmp_path / fmt, np.full((3, 72, 96), 2.0, np.float32), _poses(3), K)
    world = video_world(clip, 64, 64, geometry=tmp_path / fmt)
    # K (given at the depth maps' 96x72) moves through the crop to 72x72 (x0 = 12) and the resize by 64/72
    s = 64 / 72
    assert world.K[0, 0] == pytest.approx(80.0 * s) and world.K[1, 1] == pytest.approx(80.0 * s)
    assert world.K[0, 2] == pytest.approx((47.5 - 12 + 0.5) * s - 0.5)
    assert world.K[1, 2] == pytest.approx((35.5 + 0.5) * s - 0.5)


# ---------------------------------------------------------------- 7. CLI


def test_cli_preprocess_and_cache(clips, own_cache, tmp_path, capsys):
    from inspatio_gym.cli import main

    clip, out = clips["orbit"], tmp_path / "o"
    argv = ["preprocess", str(clip), "--long-side", "96", "--quiet", "--out", str(out)]
    with recorded():
        assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("preprocessed in") and "cache hit" not in first
    report = json.loads((out / "report.json").read_text())
    assert report["size"] == [96, 72] and report["frames"] == T and report["video"] == str(clip)
    png = cv2.imread(str(out / "depth.png"))
    assert png is not None and png.shape == (2 * 72, 4 * 96, 3)  # 4 frames over their depth

    with recorded():
        assert main(argv) == 0
    second = capsys.readouterr().out
    assert second.startswith("cache hit in")
    key = entry_key(clip, PreprocessSettings(long_side=96))
    assert key in first and key in second

    assert main(["cache", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1 preprocessed world(s)" in listed and key in listed and str(clip) in listed
    assert main(["cache", "clear", "--yes"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert list_entries() == []

    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    assert main(["preprocess", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "clip.mp4" in err


# ---------------------------------------------------------------- 8. gym


def test_gym_env_on_a_preprocessed_video(clips, own_cache):
    import gymnasium as gym  # the env ids are registered by importing inspatio_gym (above)

    clip = clips["orbit"]
    pre, hit = preprocessed(clip, progress=False)  # the default settings, which the env uses
    assert hit is False and pre.report["fallback"] is None, pre.report.get("fallback_reason")
    env = gym.make("InspatioWorld-v0", video=str(clip))
    try:
        obs, info = env.reset(seed=0)
        assert info["depth_source"] == "sfm" and "geometry_warning" not in info
        world = env.unwrapped.world
        assert world.meta["cache_hit"] is True and len(world.frames) == T
        assert obs.shape == (64, 64, 3) and obs.std() > 1
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert obs.shape == (64, 64, 3) and np.isfinite(np.asarray(obs, dtype=np.float64)).all()
            assert np.isfinite(reward) and not terminated
    finally:
        env.close()


def test_sfm_retries_until_enough_frames_register(monkeypatch):
    """COLMAP is chaotic on short clips: a poor attempt is retried with the next seed, the
    first good one is kept, and every attempt is in the report; all poor: the best one."""
    from types import SimpleNamespace

    from inspatio_gym.recon import preprocess

    def fake(registered):
        seen = []

        def run(frames, **kw):
            seen.append((kw["seed"], kw["matcher"]))
            n = registered[len(seen) - 1]
            z = np.linspace(1.0, 2.0, 10 * n)  # a sound cloud (depth_spread ~1.3), seen once each by frame 0
            return SimpleNamespace(frame_ids=np.arange(n), reproj_error=0.5, K=np.eye(3), focal_refined=False,
                                   points=np.column_stack([0 * z, 0 * z, z]), c2w=np.tile(np.eye(4), (n, 1, 1)),
                                   obs_frame=np.zeros(10 * n, np.int64), obs_point=np.arange(10 * n),
                                   obs_uv=np.zeros((10 * n, 2)), seconds=0.0, focal_search={})
        return run, seen

    frames = np.zeros((10, 8, 8, 3), np.uint8)
    run, seen = fake([2, 3, 9, 10])
    monkeypatch.setattr(preprocess, "run_sfm", run)
    report: dict = {}
    best = preprocess._sfm_with_retries(frames, PreprocessSettings(seed=5), report)
    assert len(best.frame_ids) == 9 and seen == [(5, "sequential"), (6, "sequential"), (7, "sequential")]
    assert [a["registered"] for a in report["sfm_attempts"]] == [2, 3, 9] and report["registered"] == 9
    run, seen = fake([2, 4, 3, 1, 2, 1])  # four seeds, then exhaustive matching twice (a short clip)
    monkeypatch.setattr(preprocess, "run_sfm", run)
    report = {}
    with pytest.raises(SfmError, match="only 4 of 10 frames registered"):
        preprocess._sfm_with_retries(frames, PreprocessSettings(), report)
    assert report["registered"] == 4 and len(report["sfm_attempts"]) == 6
    assert [m for _, m in seen] == ["sequential"] * 4 + ["exhaustive"] * 2


def test_review_fixes_fov_geometry_conflict_mm_png_prior_and_unknown_parallax(tmp_path, clips, own_cache):
    from inspatio_gym.recon.external import load_geometry_dir
    from inspatio_gym.recon.parallax import measure_parallax
    from inspatio_gym.recon.prior import ground_plane_depth

    w = video_world(clips["static"], 64, 64, fov=90.0)  # the focal prior follows fov
    assert w.meta["preprocess"]["settings"]["fov"] == 90.0
    w2 = video_world(clips["static"], 64, 64, preprocess={"long_side": 96})
    assert w2.meta["preprocess"]["settings"]["long_side"] == 96
    with pytest.raises(ValueError, match="bad preprocess option"):
        video_world(clips["static"], 64, 64, preprocess={"colour": 1})
    folder = tmp_path / "g"
    write_folder(folder, np.full((2, 6, 8), 2.0, np.float32), depth_format="png")
    with pytest.raises(ValueError, match="cannot be combined"):
        video_world(clips["static"], 64, 64, geometry=folder, K=np.eye(3))
    png = sorted(folder.glob("*.png"))[0]
    raw = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    raw[0, 0] = 65535  # 7-Scenes' "no measurement"
    cv2.imwrite(str(png), raw)
    g = load_geometry_dir(folder)
    assert g.depth[0, 0, 0] == 0 and g.depth[0, 1, 1] == pytest.approx(2.0)
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    d = ground_plane_depth(48, 64, K)  # upright: floor depth = height * fy / (v - cy), one unit height
    assert d[40, 10] == pytest.approx(50.0 / (40 - 23.5), rel=1e-5)
    black = np.concatenate([np.zeros((1, 48, 64, 3), np.uint8), np.stack([d[..., None].repeat(3, -1).astype(np.uint8)] * 3)])
    r = measure_parallax(black)  # no corners in the first frame: unknown, so SfM decides
    assert not r.known and not r.static and r.enough(0.5)


def test_cli_rejects_zero_steps(capsys):
    from inspatio_gym.cli import main

    assert main(["rollout", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
