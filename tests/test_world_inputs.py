"""Video world inputs: 7-Scenes folders as geometry= (their poses are used), geometry=
typos, and the frame rate of image folders (user fps everywhere, the default said)."""

from __future__ import annotations

import types
import warnings

import cv2
import numpy as np
import pytest

from inspatio_gym.geometry.camera import intrinsics_from_fov
from inspatio_gym.recon.external import write_folder
from inspatio_gym.world import seven_scenes_world, video_world

from .conftest import REAL


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _seven_scenes(folder, n=4, size=(40, 30)):
    """A 7-Scenes-shaped sequence: frames/frame-XXXXXX.{color,depth}.png and .pose.txt, moving camera."""
    d = folder / "frames"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    poses = []
    for i in range(n):
        stem = d / f"frame-{i:06d}"
        cv2.imwrite(f"{stem}.color.png", rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        cv2.imwrite(f"{stem}.depth.png", np.full((size[1], size[0]), 1500 + 100 * i, np.uint16))
        pose = np.eye(4)
        pose[:3, :3] = _rot_y(5.0 * i)
        pose[:3, 3] = (1.0 + 0.1 * i, 0.2, -0.05 * i)  # absolute, as the dataset's are
        np.savetxt(f"{stem}.pose.txt", pose)
        poses.append(pose)
    np.savetxt(folder / "camera-intrinsics.txt", intrinsics_from_fov(size[0], size[1], 60.0))
    return folder, np.stack(poses)


@pytest.mark.parametrize("as_frames", [False, True])
def test_seven_scenes_folder_as_geometry_uses_its_poses(tmp_path, as_frames):
    seq, poses = _seven_scenes(tmp_path / "seq")
    w = video_world(seq / "frames", 32, 24, geometry=seq / "frames" if as_frames else seq)
    assert w.depth_source == "imported:7scenes" and w.num_frames == 4
    np.testing.assert_allclose(w.c2w, np.linalg.inv(poses[0]) @ poses, atol=1e-9)  # not a static camera
    np.testing.assert_allclose(w.depth[:, 12, 16], [1.5, 1.6, 1.7, 1.8], atol=1e-6)
    assert w.K[0, 0] == pytest.approx(intrinsics_from_fov(40, 30, 60.0)[0, 0] * 24 / 30)
    assert w.geometry_world is w  # requested at 32x24 = the canonical size of 4:3


def test_seven_scenes_geometry_with_stride_and_unpaired_files(tmp_path):
    seq, poses = _seven_scenes(tmp_path / "seq")
    w = video_world(seq / "frames", 32, 24, geometry=seq, stride=2)
    np.testing.assert_allclose(w.c2w, np.linalg.inv(poses[0]) @ poses[::2], atol=1e-9)
    (seq / "frames" / "frame-000003.pose.txt").unlink()
    with pytest.raises(ValueError, match="do not pair up; unpaired: frame-000003"):
        video_world(seq / "frames", 32, 24, geometry=seq)


def test_real_seven_scenes_folder_as_geometry():
    seq = REAL / "7scenes_redkitchen"
    if not seq.exists():
        pytest.skip(f"shared test data not present: {seq}")
    w = video_world(seq / "frames", 64, 48, geometry=seq, max_frames=10, stride=5)
    ref = seven_scenes_world(seq, 64, 48)  # the dataset reader: absolute poses
    rel = np.linalg.inv(ref.c2w[0]) @ ref.c2w[::5][:10]
    np.testing.assert_allclose(w.c2w, rel, atol=1e-9)
    assert np.linalg.norm(w.c2w[-1, :3, 3]) > 0.05  # the handheld pan moved (metres)
    np.testing.assert_allclose(w.K, ref.K)


def test_geometry_typo_lists_the_valid_values(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"'plan'.*'auto', 'plane' or a folder"):
        video_world(folder, 8, 8, geometry="plan")
    with pytest.raises(FileNotFoundError, match=r"'auto', 'plane'"):
        video_world(folder, 8, 8, geometry="plan", depth=np.ones((1, 8, 8), np.float32))
    with pytest.raises(TypeError, match="geometry must be"):
        video_world(folder, 8, 8, geometry=3)


def _folder(tmp_path, n=4, size=(40, 30)):
    d = tmp_path / "imgs"
    d.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(d / f"img{i}.png"), np.full((size[1], size[0], 3), 20 * i, np.uint8))
    return d


def _fake_preprocessed(monkeypatch, n=4, size=(40, 30), fps=30.0):
    from inspatio_gym.world.sources import reconstructed

    pre = types.SimpleNamespace(frames=np.zeros((n, size[1], size[0], 3), np.uint8),
                                depth=np.ones((n, size[1], size[0]), np.float32),
                                K=intrinsics_from_fov(size[0], size[1], 60.0), c2w=np.tile(np.eye(4), (n, 1, 1)),
                                fps=fps, report={})
    monkeypatch.setattr(reconstructed, "preprocessed", lambda *a, **k: (pre, True))


def _every_geometry(tmp_path, monkeypatch, folder, **kw):
    """The world of the folder through each geometry path: auto, plane, imported, user depth."""
    _fake_preprocessed(monkeypatch)
    geo = tmp_path / "geo"
    write_folder(geo, np.ones((4, 30, 40), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plane priors
        return {
            "auto": video_world(folder, 32, 24, **kw),
            "plane": video_world(folder, 32, 24, geometry="plane", **kw),
            "imported": video_world(folder, 32, 24, geometry=geo, **kw),
            "user": video_world(folder, 32, 24, depth=np.ones((4, 30, 40), np.float32), **kw),
        }


def test_user_fps_reaches_every_geometry_path(tmp_path, monkeypatch):
    worlds = _every_geometry(tmp_path, monkeypatch, _folder(tmp_path), fps=7.5)
    assert {k: (w.fps, w.meta["fps_source"]) for k, w in worlds.items()} == \
        {k: (7.5, "user") for k in worlds}
    assert "default" not in repr(worlds["plane"])


def test_image_folder_default_fps_is_said(tmp_path, monkeypatch):
    worlds = _every_geometry(tmp_path, monkeypatch, _folder(tmp_path))
    assert {k: (w.fps, w.meta["fps_source"]) for k, w in worlds.items()} == \
        {k: (30.0, "default") for k in worlds}
    assert "fps=30 (default" in repr(worlds["plane"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert video_world(_folder(tmp_path / "b"), 32, 24, geometry="plane", stride=2).fps == 15.0
    with pytest.raises(ValueError, match="fps must be a number > 0 or None, got -1"):
        video_world(_folder(tmp_path / "c"), 32, 24, geometry="plane", fps=-1)


def test_video_file_fps_comes_from_the_container(tmp_path):
    clip = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    for i in range(3):
        wr.write(np.full((30, 40, 3), 10 * i, np.uint8))
    wr.release()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = video_world(clip, 32, 24, geometry="plane")
    assert w.fps == pytest.approx(10.0) and w.meta["fps_source"] == "container"
