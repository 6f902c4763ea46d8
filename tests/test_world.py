"""Reference worlds from image folders, arrays and files; the shared world cache."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from inspatio_gym.world import (
    ReferenceWorld,
    VideoError,
    array_world,
    clear_world_cache,
    get_world,
    read_video,
    video_world,
)


def _folder(tmp_path, n=5, size=(80, 60), names=None):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(n):
        img = np.full((size[1], size[0], 3), 10 * i, np.uint8)
        cv2.imwrite(str(d / (names[i] if names else f"img{i}.png")), img)
    return d


def test_image_folder_natural_order_and_depth_files_skipped(tmp_path):
    d = _folder(tmp_path, n=3, names=["img2.png", "img10.png", "img1.png"])
    cv2.imwrite(str(d / "img1.depth.png"), np.zeros((60, 80), np.uint16))
    with pytest.warns(UserWarning):
        w = video_world(d, 64, 64)
    assert w.num_frames == 3
    # natural order: img1 (value 20), img2 (0), img10 (10)
    np.testing.assert_array_equal(w.frames[:, 0, 0, 0], [20, 0, 10])
    with pytest.warns(UserWarning):
        only = video_world(d, 64, 64, pattern="img1?.png")
    assert only.num_frames == 1  # img10 only


def test_image_folder_intrinsics_and_depth_follow_the_crop(tmp_path):
    d = _folder(tmp_path, n=3)
    clip = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for i in range(3):
        wr.write(np.full((60, 80, 3), 10 * i, np.uint8))
    wr.release()
    K = np.array([[70.0, 0, 39.5], [0, 70.0, 29.5], [0, 0, 1]])
    depth = np.full((3, 60, 80), 2.0, np.float32)
    a = video_world(d, 64, 64, depth=depth, K=K)
    b = video_world(clip, 64, 64, depth=depth, K=K)
    np.testing.assert_allclose(a.K, b.K)
    # 60x60 centre crop of 80x60 then x 64/60: focal scales, principal point stays central
    assert a.K[0, 0] == pytest.approx(70 * 64 / 60)
    assert a.K[0, 2] == pytest.approx(31.5) and a.K[1, 2] == pytest.approx(31.5)
    assert a.depth.shape == (3, 64, 64) and a.depth_source == "user"


def test_image_folder_errors(tmp_path):
    d = _folder(tmp_path, n=2)
    (d / "bad.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match="bad.png"):
        video_world(d, 64, 64)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        video_world(d, 64, 64, stride=0)
    with pytest.raises(ValueError, match="max_frames must be an integer"):
        video_world(d, 64, 64, max_frames=2.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images .* in folder .*empty"):
        get_world(str(empty), 64, 64)


def test_depth_file_errors_name_the_file(tmp_path):
    d = _folder(tmp_path, n=3)
    np.savez(tmp_path / "g.npz", depth=np.ones((3, 64, 64), np.float32), K=np.eye(4))
    with pytest.raises(ValueError, match=r"K in depth file .*g\.npz.* shape \(4, 4\)"):
        video_world(d, 64, 64, depth=str(tmp_path / "g.npz"))
    np.savez(tmp_path / "s.npz", depth=np.ones((3, 64, 64), np.float32), c2w=np.float32(1.0))
    with pytest.raises(ValueError, match=r"c2w in depth file .*s\.npz"):
        video_world(d, 64, 64, depth=str(tmp_path / "s.npz"))
    (tmp_path / "x.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="x.npy"):
        video_world(d, 64, 64, depth=str(tmp_path / "x.npy"))


def test_reference_world_validation():
    f = np.zeros((2, 8, 8, 3), np.uint8)
    d = np.ones((2, 8, 8), np.float32)
    c2w = np.tile(np.eye(4), (2, 1, 1))
    K = np.eye(3)
    ReferenceWorld(f, d, K, c2w, 10.0)
    with pytest.raises(ValueError, match=r"depth must have shape \(2, 8, 8\)"):
        ReferenceWorld(f, d[:, :4], K, c2w, 10.0)
    bad = c2w.copy()
    bad[1, 0, 0] = 2.0
    with pytest.raises(ValueError, match=r"c2w\[1\] is not a rigid"):
        ReferenceWorld(f, d, K, bad, 10.0)
    with pytest.raises(ValueError, match="non-finite"):
        ReferenceWorld(f, np.where(d > 0, np.nan, d), K, c2w, 10.0)
    with pytest.raises(ValueError, match="fps"):
        ReferenceWorld(f, d, K, c2w, 0.0)


def test_video_reading_streams_and_downscales(tmp_path):
    clip = tmp_path / "big.avi"
    wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (1280, 720))
    for i in range(9):
        wr.write(np.full((720, 1280, 3), 25 * i, np.uint8))
    wr.release()
    frames, fps, src = read_video(clip, 32, 24, stride=2, max_frames=3)
    assert frames.shape == (3, 24, 32, 3) and src == (1280, 720) and fps == pytest.approx(12.5)
    np.testing.assert_allclose(frames[:, 0, 0, 0], [0, 50, 100], atol=3)


def test_world_cache_shares_and_invalidates(tmp_path):
    clear_world_cache()
    d = _folder(tmp_path, n=3)
    dp = tmp_path / "d.npy"
    np.save(dp, np.full((3, 64, 64), 2.5, np.float32))
    a = get_world(str(d), 64, 64, depth=str(dp))
    b = get_world(str(d), 64, 64, depth=str(dp))
    assert a is b and a.scale == pytest.approx(2.5)
    time.sleep(0.01)
    np.save(dp, np.full((3, 64, 64), 5.0, np.float32))
    os.utime(dp, ns=(time.time_ns(), time.time_ns()))
    c = get_world(str(d), 64, 64, depth=str(dp))
    assert c is not a and c.scale == pytest.approx(5.0)
    assert get_world(None, 64, 64, num_frames=4) is get_world(None, 64, 64, num_frames=4)


def test_media_files_have_normal_permissions(tmp_path):
    from inspatio_gym.io.media import write_png

    p = write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    from inspatio_gym.io.atomic import atomic_dir, is_temporary

    target = tmp_path / "entry"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "half.npz").write_bytes(b"x")
            assert is_temporary(tmp) and tmp.parent == tmp_path
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("mine")
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o777 & ~umask)
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_dir(target):
            pass
    with atomic_dir(target, keep_existing=True) as tmp:  # a racing writer finished first: theirs stays
        (tmp / "a").write_text("late")
    assert (target / "a").read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_array_world_plane_prior_warns():
    with pytest.warns(UserWarning, match="plane prior"):
        w = array_world(np.zeros((2, 8, 8, 3), np.uint8))
    assert w.depth_source == "plane_prior" and w.scale == 1.0
