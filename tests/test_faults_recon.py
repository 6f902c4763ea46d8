"""Faults around preprocessing (issue 14): SfM that could not run is never cached, the COLMAP
worker dies with its parent and leaves nothing behind, an unwritable cache keeps the result,
FIFOs and devices are refused by name, a cache entry with bad content is rebuilt, and bad
arguments are named."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from inspatio_gym.io.video import VideoError
from inspatio_gym.recon import disk_cache, preprocess, sfm
from inspatio_gym.recon.disk_cache import CacheWarning, content_hash, entry_key, preprocessed
from inspatio_gym.recon.preprocess import PreprocessSettings, Preprocessed, preprocess_video
from inspatio_gym.recon.sfm import SfmError, SfmUnavailable, run_sfm
from inspatio_gym.world import NoParallaxWarning
from inspatio_gym.world.sources import video_world

from .test_recon import _NumpyProxy, clips, orbit_world, own_cache, recorded, of, write_avi  # noqa: F401 - fixtures
from .test_recon_robust import _truth_sfm

#: SfM at 80 px, plane sweep at 48: enough to reach SfM on the orbit clip, cheap to finish.
SMALL = PreprocessSettings(long_side=80, depth_long_side=48)


def _stub(n: int = 2, h: int = 12, w: int = 16) -> Preprocessed:
    """A tiny valid preprocessing result (what preprocess_video is replaced by where only the
    cache is under test)."""
    rng = np.random.default_rng(0)
    return Preprocessed(frames=rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8),
                        depth=np.ones((n, h, w), np.float32), K=np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]]),
                        c2w=np.repeat(np.eye(4)[None], n, 0), fps=10.0, report={"fallback": None})


@pytest.fixture
def tiny_clip(tmp_path) -> Path:
    return write_avi(tmp_path / "tiny.avi", np.random.default_rng(1).integers(0, 255, (3, 24, 32, 3), dtype=np.uint8))


@pytest.fixture
def counted_preprocess(monkeypatch):
    """preprocess_video replaced by _stub; returns the list of calls."""
    calls: list[Path] = []

    def fake(path, settings, progress=True, pattern=None):
        calls.append(Path(path))
        return _stub()

    monkeypatch.setattr(disk_cache, "preprocess_video", fake)
    return calls


# ---------------------------------------------------------------- 1. SfM that could not run is not cached


def test_missing_pycolmap_is_not_cached_and_the_next_run_retries(clips, orbit_world, own_cache, monkeypatch):
    world = orbit_world
    monkeypatch.setattr(sfm, "sfm_available", lambda: False)
    with pytest.warns(CacheWarning, match=r"not caching.*pycolmap is not installed.*next run retries"):
        pre, hit = preprocessed(clips["orbit"], SMALL, progress=False)
    assert not hit and pre.report["fallback"] == "ground_plane_prior"
    assert "pycolmap is not installed" in pre.report["sfm_unavailable"]
    assert len(pre.report["sfm_attempts"]) == 1  # the ladder stops: every attempt would fail alike
    assert not own_cache.exists() or list(own_cache.iterdir()) == []
    # pycolmap installed now (a perfect SfM stands in for it): SfM runs and its result is cached
    monkeypatch.setattr(preprocess, "run_sfm", lambda frames, **kw: _truth_sfm(world, (80, 60), len(frames)))
    pre, hit = preprocessed(clips["orbit"], SMALL, progress=False)
    assert not hit and pre.report["fallback"] is None
    again, hit = preprocessed(clips["orbit"], SMALL, progress=False)
    assert hit and again.report["fallback"] is None


def test_the_world_says_why_sfm_could_not_run(clips, own_cache, monkeypatch):
    monkeypatch.setattr(sfm, "sfm_available", lambda: False)
    with recorded() as caught:
        world = video_world(clips["orbit"], 32, 24, progress=False, preprocess={"long_side": 80, "depth_long_side": 48})
    assert world.depth_source == "ground_plane_prior"
    assert any("SfM could not run here: pycolmap is not installed" in m for m in of(caught, NoParallaxWarning))
    assert len(of(caught, CacheWarning)) == 1


def test_a_killed_attempt_does_not_decide_what_is_cached(clips, orbit_world, own_cache, monkeypatch):
    """Seed 0 killed (the OOM killer), seed 1 fine: before, seed 1's result was cached; now
    nothing is, and the next run, undisturbed, caches seed 0's."""
    world = orbit_world
    seeds: list[int] = []
    kill = {"on": True}

    def run(frames, **kw):
        seeds.append(kw["seed"])
        if kill["on"] and kw["seed"] == 0:
            raise SfmUnavailable("the COLMAP worker was killed by SIGKILL")
        return _truth_sfm(world, (80, 60), len(frames))

    monkeypatch.setattr(preprocess, "run_sfm", run)
    with pytest.warns(CacheWarning, match="SIGKILL"):
        pre, _ = preprocessed(clips["orbit"], SMALL, progress=False)
    assert seeds == [0] and pre.report["fallback"] == "ground_plane_prior"
    assert not own_cache.exists() or list(own_cache.iterdir()) == []
    kill["on"] = False
    pre, hit = preprocessed(clips["orbit"], SMALL, progress=False)
    assert not hit and seeds == [0, 0] and pre.report["sfm_attempts"][-1]["seed"] == 0
    cached, hit = preprocessed(clips["orbit"], SMALL, progress=False)
    assert hit and cached.report["sfm_attempts"][-1]["seed"] == 0


@pytest.mark.parametrize("error, stale", [("pycolmap is not installed (pip install pycolmap)", True),
                                          ("COLMAP failed (exit code -9): no output", True),
                                          ("COLMAP failed (exit code -6): Check failed", False),
                                          ("COLMAP: no initial image pair could be reconstructed", False)])
def test_an_entry_cached_when_sfm_could_not_run_is_rebuilt(tiny_clip, own_cache, counted_preprocess, error, stale):
    """Entries written before the fix kept such a fallback for good; a genuine failure stays."""
    key = entry_key(tiny_clip, PreprocessSettings(fov=60.0))
    disk_cache.save_entry(key, Preprocessed(**{**_stub().__dict__, "report": {
        "fallback": "ground_plane_prior", "sfm_attempts": [{"seed": 0, "error": error}]}}))
    with recorded() as caught:
        pre, hit = preprocessed(tiny_clip, PreprocessSettings(fov=60.0), progress=False)
    assert hit is not stale and len(counted_preprocess) == int(stale)
    assert len([m for m in of(caught, CacheWarning) if "SfM could not run" in m]) == int(stale)


def _fake_worker(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "worker.py"
    script.write_text("import os, signal, sys\n" + textwrap.dedent(body))
    return script


@pytest.mark.parametrize("body, unavailable, match", [
    ("os.kill(os.getpid(), signal.SIGKILL)", True, "killed by SIGKILL"),
    ("os.kill(os.getpid(), signal.SIGTERM)", True, "killed by SIGTERM"),
    ("print('pycolmap cannot be imported'); sys.exit(75)", True, "could not run: pycolmap cannot be imported"),
    ("print(\"terminate called after throwing an instance of 'std::bad_alloc'\"); os.abort()", True, "out of memory"),
    ("os.abort()", False, "COLMAP crashed \\(SIGABRT\\)"),
    ("print('ValueError: bad frames'); sys.exit(1)", False, "exit code 1.*bad frames"),
])
def test_worker_failures_are_told_apart(tmp_path, monkeypatch, body, unavailable, match):
    """A worker killed from outside, out of memory or unable to import pycolmap is
    SfmUnavailable (never cached); COLMAP crashing on the frames is an SfmError."""
    monkeypatch.setattr(sfm, "sfm_available", lambda: True)
    monkeypatch.setattr(sfm, "_WORKER", _fake_worker(tmp_path, body))
    with pytest.raises(SfmError, match=match) as e:
        run_sfm(np.zeros((2, 16, 16, 3), np.uint8))
    assert isinstance(e.value, SfmUnavailable) is unavailable


# ---------------------------------------------------------------- 3. the worker dies with its parent

_PARENT = """
import sys
import numpy as np
from scipy.ndimage import gaussian_filter
from inspatio_gym.recon import sfm

popen = sfm.subprocess.Popen
def record(*a, **k):
    p = popen(*a, **k)
    open(sys.argv[1], "w").write(str(p.pid))
    return p
sfm.subprocess.Popen = record
rng = np.random.default_rng(0)
base = gaussian_filter(rng.random((300, 500)), 1.5)
base = ((base - base.min()) / np.ptp(base) * 255).astype(np.uint8)
frames = np.stack([np.repeat(base[40:280, 10 + 8 * i:330 + 8 * i, None], 3, 2) for i in range(12)])
sfm.run_sfm(frames)
"""


def _gone(pid: int) -> bool:
    """True when the process has exited (a zombie nobody reaps counts as gone)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def _wait(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.mark.skipif(not sfm.sfm_available(), reason="pycolmap is not installed")
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch the worker")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_worker_dies_with_its_parent_and_leaves_nothing(tmp_path, sig):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    script, pidfile = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(_PARENT)
    env = {**os.environ, "TMPDIR": str(tmpdir), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, str(script), str(pidfile)], env=env, cwd=Path(__file__).parents[1])
    try:
        assert _wait(lambda: pidfile.exists() and pidfile.read_text(), 60), "the worker was never started"
        worker = int(pidfile.read_text())
        # COLMAP is at work once the worker has made its work folder (after importing pycolmap)
        assert _wait(lambda: any(tmpdir.glob("inspatio-sfm-*/sfm.npz.work")) or _gone(worker), 60)
        assert not _gone(worker), "the worker finished before the parent could be killed"
        parent.send_signal(sig)
        parent.wait(10)
        assert _wait(lambda: _gone(worker), 5), f"worker {worker} outlived its parent"
        assert _wait(lambda: list(tmpdir.iterdir()) == [], 5), list(tmpdir.rglob("*"))
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.skipif(not sfm.sfm_available(), reason="pycolmap is not installed")
def test_a_colmap_run_leaves_no_glog_file_in_tmpdir(tmp_path, monkeypatch):
    """A bundle adjustment resets glog's log folder to TMPDIR: every run left a file there."""
    from scipy.ndimage import gaussian_filter

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    base = gaussian_filter(np.random.default_rng(0).random((150, 260)), 1.2)
    base = ((base - base.min()) / np.ptp(base) * 255).astype(np.uint8)
    frames = np.stack([np.repeat(base[15:135, 5 + 6 * i:165 + 6 * i, None], 3, 2) for i in range(8)])
    r = run_sfm(frames)
    assert len(r.frame_ids) >= 2 and "error_prior_px" in r.focal_search  # the focal scan's adjustments ran
    assert list(tmpdir.iterdir()) == []


# ---------------------------------------------------------------- 4. an unwritable cache keeps the result


@pytest.mark.parametrize("how", ["no_space", "read_only"])
def test_unwritable_cache_warns_and_returns_the_result(tiny_clip, tmp_path, monkeypatch, counted_preprocess, how):
    root = tmp_path / "cache"
    monkeypatch.setenv("INSPATIO_GYM_CACHE", str(root))
    if how == "read_only":
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes (the no_space case simulates the failure)")
        root.mkdir()
        root.chmod(0o555)
        match = "Permission denied"
    else:
        def half_savez(path, **arrays):
            Path(path).write_bytes(b"PK\x03\x04 half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        monkeypatch.setattr(disk_cache, "np", _NumpyProxy(half_savez))
        match = "No space left on device"
    try:
        with pytest.warns(CacheWarning, match=rf"into {re.escape(repr(str(root / 'worlds')))}.*{match}.*not cached"):
            world = video_world(tiny_clip, 16, 12, progress=False)
        assert world.num_frames == 2 and world.meta["cache_hit"] is False and len(counted_preprocess) == 1
        left = list((root / "worlds").iterdir()) if (root / "worlds").exists() else []
        assert left == []  # no entry and no half-written .tmp-* folder
    finally:
        root.chmod(0o755) if root.exists() else None


# ---------------------------------------------------------------- 6. FIFOs and devices


def _returns(fn, seconds: float = 10.0):
    """fn() run in a thread: its exception, or a failure when it does not return (a hang)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} did not return within {seconds} s"
    return out.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_and_character_device_are_rejected_by_name(tmp_path, own_cache):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    folder = tmp_path / "frames"
    folder.mkdir()
    os.mkfifo(folder / "0001.png")
    try:
        cases = [(fifo, "FIFO"), (Path("/dev/zero"), "character device")]
        for path, kind in cases:
            for call in (lambda: video_world(path, 16, 16, progress=False),
                         lambda: video_world(path, 16, 16, geometry="plane"),
                         lambda: preprocessed(path, progress=False),
                         lambda: content_hash(path)):
                e = _returns(call)
                assert isinstance(e, VideoError), e
                assert f"video {str(path)!r} is not a regular file ({'a ' + kind})" in str(e)
        e = _returns(lambda: content_hash(folder))
        assert isinstance(e, VideoError) and "image" in str(e) and "is not a regular file (a FIFO)" in str(e)
    finally:
        for f in (fifo, folder / "0001.png"):  # release a reader a failed test left blocked
            try:
                os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


# ---------------------------------------------------------------- 8. an entry with bad content


def _nan_depth(geo: dict) -> None:
    geo["depth"][0, 3, 4] = np.nan


def _skewed_pose(geo: dict) -> None:
    geo["c2w"][1, :3, :3] *= 1.5


def _negative_depth(geo: dict) -> None:
    geo["depth"][1] = -1.0


@pytest.mark.parametrize("damage, match", [(_nan_depth, "non-finite"), (_skewed_pose, r"c2w\[1\] is not a rigid"),
                                           (_negative_depth, "depth must be >= 0")])
def test_entry_with_bad_content_is_discarded_and_rebuilt(tiny_clip, own_cache, counted_preprocess, damage, match):
    key = entry_key(tiny_clip, PreprocessSettings(fov=60.0))
    video_world(tiny_clip, 16, 12, progress=False)
    npz = own_cache / key / "geometry.npz"
    geo = dict(np.load(npz))
    damage(geo)
    np.savez(npz, **geo)
    entry = re.escape(repr(str(own_cache / key)))
    with pytest.warns(CacheWarning, match=rf"discarding damaged cache entry {entry}: .*{match}"):
        world = video_world(tiny_clip, 16, 12, progress=False)
    assert world.meta["cache_hit"] is False and len(counted_preprocess) == 2
    with recorded() as caught:
        world = video_world(tiny_clip, 16, 12, progress=False)  # the rebuilt entry is sound
    assert world.meta["cache_hit"] is True and not of(caught, CacheWarning)


# ---------------------------------------------------------------- 10. bad values are named


def test_bad_settings_and_fov_are_named(tiny_clip):
    for kwargs, match in [({"fov": "wide"}, "fov must be a number of degrees in \\[10, 170\\], got 'wide'"),
                          ({"fov": float("nan")}, "fov must be.*got nan"),
                          ({"min_registered": "half"}, "min_registered must be a number.*got 'half'"),
                          ({"min_parallax_px": None}, "min_parallax_px must be a number.*got None"),
                          ({"seed": 1.5}, "seed must be an integer.*got 1.5")]:
        with pytest.raises(ValueError, match=match):
            PreprocessSettings(**kwargs)
    with pytest.raises(ValueError, match="fov must be a number of degrees in \\(0, 180\\), got 'abc'"):
        video_world(tiny_clip, 16, 12, fov="abc")
    with pytest.raises(ValueError, match="fov must be a number of degrees in \\[10, 170\\], got 'wide'"):
        video_world(tiny_clip, 16, 12, preprocess={"fov": "wide"})
    with pytest.raises(ValueError, match="fov must be.*got True"):
        video_world(tiny_clip, 16, 12, geometry="plane", fov=True)


def test_a_depth_array_of_strings_is_named(tiny_clip):
    with pytest.raises(TypeError, match="depth must be a numeric array, got dtype <U3 holding 'far'"):
        video_world(tiny_clip, 16, 12, depth=np.full((3, 12, 16), "far"))
    with pytest.raises(TypeError, match="c2w must be a numeric array.*'x'"):
        video_world(tiny_clip, 16, 12, depth=np.ones((3, 12, 16)), c2w=[[["x"] * 4] * 4] * 3)
    with pytest.raises(TypeError, match="K must be a numeric array.*'f'"):
        video_world(tiny_clip, 16, 12, depth=np.ones((3, 12, 16)), K=[["f", 0, 8], [0, 1, 6], [0, 0, 1]])


@pytest.mark.parametrize("size", [(1, 1), (40, 8)])
def test_a_tiny_video_is_rejected_before_sfm(tmp_path, monkeypatch, size):
    import cv2

    w, h = size
    clip = tmp_path / "tiny.avi"
    wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (w, h))  # FFV1 cannot write 1x1
    assert wr.isOpened()
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        wr.write(np.full((h, w, 3), 40 * i, np.uint8))
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((h, w, 3), 40 * i, np.uint8))
    wr.release()

    def no_sfm(frames, **kw):
        raise AssertionError("SfM ran on a video too small to preprocess")

    monkeypatch.setattr(preprocess, "run_sfm", no_sfm)
    for path, what in ((clip, "video"), (folder, "image folder")):
        with pytest.raises(VideoError, match=rf"{what} '.*' is {w}x{h} pixels: preprocessing needs at least 16x16"):
            preprocess_video(path, progress=False)
