"""Import of depth and camera poses made elsewhere: DA3, Pi3 and plain folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspatio_gym.recon import external
from inspatio_gym.recon.external import (
    ImportedGeometry,
    detect_format,
    load_geometry_dir,
    write_da3,
    write_folder,
    write_pi3,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "geometry"


# ---------------------------------------------------------------- helpers


def _random_geometry(seed: int = 0, T: int = 4, H: int = 5, W: int = 7):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.2, 30.0, (T, H, W)).astype(np.float32)
    c2w = np.zeros((T, 4, 4))
    for t in range(T):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.diag(r))
        if np.linalg.det(q) < 0:
            q[:, 0] *= -1
        c2w[t, :3, :3] = q
        c2w[t, :3, 3] = rng.normal(size=3) * 3
        c2w[t, 3, 3] = 1
    K = np.array([[[rng.uniform(50, 80), 0, rng.uniform(2, 5)], [0, rng.uniform(50, 80), rng.uniform(2, 4)],
                   [0, 0, 1]] for _ in range(T)])
    return depth, c2w, K


def _expected_fixture():
    """The fixture values stated in tests/fixtures/geometry/README.md."""
    t, v, u = np.meshgrid(np.arange(3), np.arange(6), np.arange(8), indexing="ij")
    depth = (1 + 0.5 * t + 0.25 * u + 0.125 * v).astype(np.float32)
    depth[:, 0, 0] = 0
    depth[:, 5, 7] = 7.9998779296875
    c2w = np.zeros((3, 4, 4))
    for i, (c, s) in enumerate([(1, 0), (0.96, 0.28), (0.8, 0.6)]):
        c2w[i] = [[c, 0, s, 0.5 * i], [0, 1, 0, -0.25 * i], [-s, 0, c, 0.125 * i], [0, 0, 0, 1]]
    K = np.array([[10.0, 0, 3.5], [0, 10.0, 2.5], [0, 0, 1]])
    return depth, c2w, K


def _msg(path: Path) -> str:
    return re.escape(str(path))


# ---------------------------------------------------------------- round trips


def test_da3_roundtrip_float_exact(tmp_path):
    depth, c2w, K = _random_geometry()
    depth[1, 2, 3], depth[2, 0, 0], depth[3, 4, 6] = np.nan, np.inf, -1.0  # unknown on reading
    write_da3(tmp_path / "g", depth, c2w, K)
    assert sorted(p.name for p in (tmp_path / "g" / "depth").iterdir()) == [f"{t:04d}.png" for t in range(4)]
    g = load_geometry_dir(tmp_path / "g", num_frames=4)
    assert isinstance(g, ImportedGeometry) and g.format == "da3" and g.path == str(tmp_path / "g")
    want = np.where(np.isfinite(depth) & (depth > 0), depth, 0)
    assert g.depth.dtype == np.float32 and g.depth.shape == (4, 5, 7)
    np.testing.assert_array_equal(g.depth, want)
    assert g.c2w.dtype == np.float64
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-6)
    np.testing.assert_array_equal(g.K, K[0])  # frame 0's of the per-frame intrinsics


def test_pi3_roundtrip_within_one_code(tmp_path):
    depth, c2w, K = _random_geometry(1)
    write_pi3(tmp_path / "g", depth, c2w, K)
    g = load_geometry_dir(tmp_path / "g")
    assert g.format == "pi3"
    step = (depth.max() - depth.min()) / 65535
    assert np.abs(g.depth - depth).max() <= step * (1 + 1e-6)
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-6)
    np.testing.assert_array_equal(g.K, K[0])


def test_folder_npy_roundtrip_exact(tmp_path):
    depth, c2w, K = _random_geometry(2)
    write_folder(tmp_path / "g", depth, c2w, K[0])
    g = load_geometry_dir(tmp_path / "g", num_frames=4)
    assert g.format == "folder"
    np.testing.assert_array_equal(g.depth, depth)
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-6)
    np.testing.assert_array_equal(g.K, K[0])


def test_folder_png_roundtrip_millimetres(tmp_path):
    depth, c2w, K = _random_geometry(3)
    depth[0, 0, 0] = 0
    write_folder(tmp_path / "g", depth, c2w, K[0], depth_format="png")
    g = load_geometry_dir(tmp_path / "g")
    assert np.abs(g.depth - depth).max() <= 1e-3
    assert g.depth[0, 0, 0] == 0
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-6)
    np.testing.assert_array_equal(g.K, K[0])


def test_folder_depth_only_and_row_layout(tmp_path):
    depth, c2w, K = _random_geometry(4, T=2)
    write_folder(tmp_path / "g", depth)
    g = load_geometry_dir(tmp_path / "g")
    assert g.c2w is None and g.K is None
    np.savetxt(tmp_path / "g" / "poses.txt", c2w.reshape(8, 4))  # 4 rows per pose
    np.savetxt(tmp_path / "g" / "intrinsics.txt", K[0])  # 3 rows
    g = load_geometry_dir(tmp_path / "g")
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-12)
    np.testing.assert_array_equal(g.K, K[0])


def test_folder_natural_order_and_depth_pngs_beside_colour(tmp_path):
    d = tmp_path / "scene"
    d.mkdir()
    for i in (2, 10, 1):  # 7-Scenes style names, colour images beside the depth maps
        cv2.imwrite(str(d / f"frame-{i}.depth.png"), np.full((4, 4), i * 100, np.uint16))
        cv2.imwrite(str(d / f"frame-{i}.color.png"), np.zeros((4, 4, 3), np.uint8))
    g = load_geometry_dir(d)
    np.testing.assert_allclose(g.depth[:, 0, 0], [0.1, 0.2, 1.0])


def test_text_files_tolerate_rounding_and_comments(tmp_path):
    depth, c2w, _ = _random_geometry(5, T=2)
    write_folder(tmp_path / "g", depth)
    lines = ["# camera-to-world, rounded to 6 digits"] + [" ".join(f"{x:.6f}" for x in m.ravel()) for m in c2w]
    (tmp_path / "g" / "poses.txt").write_text("\n".join(lines) + "\n\n")
    g = load_geometry_dir(tmp_path / "g")
    np.testing.assert_allclose(g.c2w, c2w, atol=1e-5)
    R = g.c2w[:, :3, :3]
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)


# ---------------------------------------------------------------- the original's own readers and writers


def test_da3_png_bytes_match_the_original(tmp_path):
    """The original writes float32 bytes as RGBA with PIL and reads them back the same way."""
    Image = pytest.importorskip("PIL.Image")
    depth, c2w, K = _random_geometry(6, T=1)
    write_da3(tmp_path / "ours", depth, c2w, K)
    rgba = np.array(Image.open(tmp_path / "ours" / "depth" / "0000.png"))  # as read_da3_depth does
    np.testing.assert_array_equal(np.frombuffer(rgba.tobytes(), np.float32).reshape(5, 7), depth[0])
    theirs = tmp_path / "theirs"
    (theirs / "depth").mkdir(parents=True)
    u8 = np.frombuffer(depth[0].tobytes(), np.uint8).reshape(5, 7, 4)  # as save_depth_rgba_float does
    Image.fromarray(u8, mode="RGBA").save(theirs / "depth" / "0000.png", format="PNG", compress_level=0)
    for name in ("extrinsic.txt", "intrinsic.txt"):
        (theirs / name).write_bytes((tmp_path / "ours" / name).read_bytes())
    np.testing.assert_array_equal(load_geometry_dir(theirs).depth, depth)


def test_pi3_files_read_by_the_original(tmp_path):
    """metadata.txt, the depth PNGs and the matrix lines parse as the original pipeline parses them."""
    Image = pytest.importorskip("PIL.Image")
    depth, c2w, K = _random_geometry(7, T=2)
    write_pi3(tmp_path / "g", depth, c2w, K)
    with open(tmp_path / "g" / "metadata.txt") as f:
        lo, hi = tuple(float(t) for t in f.readline().strip().split(" "))
    q = np.array(Image.open(tmp_path / "g" / "depth" / "000001.png")).astype(np.uint16)
    np.testing.assert_allclose((q / 65535.0) * (hi - lo) + lo, depth[1], atol=(hi - lo) / 65535)
    lines = (tmp_path / "g" / "extrinsics.txt").read_text().strip().split("\n")
    w2c = np.array([ast.literal_eval(line.strip()) for line in lines])
    np.testing.assert_allclose(w2c, np.linalg.inv(c2w)[:, :3], atol=1e-12)
    k = np.array(ast.literal_eval((tmp_path / "g" / "intrinsics.txt").read_text().strip()))
    np.testing.assert_array_equal(k, K[0])


def test_pi3_reads_the_converters_array2string_lines(tmp_path):
    depth, c2w, K = _random_geometry(8, T=2)
    write_pi3(tmp_path / "g", depth, c2w, K)
    w2c = np.linalg.inv(c2w)[:, :3]
    text = "".join(np.array2string(m, separator=", ", suppress_small=True).replace("\n", "") + "\n" for m in w2c)
    (tmp_path / "g" / "extrinsics.txt").write_text(text)  # as scripts/convert_da3_to_pi3.py writes them
    np.testing.assert_allclose(load_geometry_dir(tmp_path / "g").c2w, c2w, atol=1e-6)


# ---------------------------------------------------------------- committed fixtures


@pytest.mark.parametrize(
    "name, fmt", [("da3", "da3"), ("pi3", "pi3"), ("folder_npy", "folder"), ("folder_png", "folder")]
)
def test_fixture_loads_with_the_readme_values(name, fmt):
    depth, c2w, K = _expected_fixture()
    if name == "folder_png":
        depth[:, 5, 7] = 8.0  # 7999.878 mm is stored as 8000 mm
    assert detect_format(FIXTURES / name) == fmt
    g = load_geometry_dir(FIXTURES / name, num_frames=3)
    assert g.format == fmt
    np.testing.assert_array_equal(g.depth, depth)
    np.testing.assert_allclose(g.c2w, c2w, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(g.K, K)


def test_fixture_tree_is_small():
    assert sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file()) < 50_000


# ---------------------------------------------------------------- detection


def test_detect_format_unknown_layout_names_folder_and_contents(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "depth").mkdir()
    with pytest.raises(ValueError, match=_msg(tmp_path) + ".*not a geometry folder.*found depth, notes.txt"):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="not a geometry folder"):
        load_geometry_dir(tmp_path)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_geometry_dir(tmp_path / "nowhere")
    (tmp_path / "f.txt").write_text("")
    with pytest.raises(ValueError, match="f.txt.*is not a folder"):
        detect_format(tmp_path / "f.txt")


# ---------------------------------------------------------------- bad depth files


@pytest.fixture
def da3(tmp_path):
    depth, c2w, K = _random_geometry(9, T=3)
    write_da3(tmp_path / "da3", depth, c2w, K)
    return tmp_path / "da3"


@pytest.fixture
def folder(tmp_path):
    depth, c2w, K = _random_geometry(10, T=3)
    write_folder(tmp_path / "folder", depth, c2w, K[0])
    return tmp_path / "folder"


def test_corrupt_png(da3):
    bad = da3 / "depth" / "0001.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(ValueError, match=_msg(bad) + ": not a readable PNG"):
        load_geometry_dir(da3)
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match=_msg(bad) + ": not a readable PNG"):
        load_geometry_dir(da3)


def test_png_of_the_wrong_kind(da3, tmp_path):
    bad = da3 / "depth" / "0002.png"
    cv2.imwrite(str(bad), np.zeros((5, 7), np.uint8))
    with pytest.raises(ValueError, match=_msg(bad) + ": expected an 8-bit RGBA PNG.*uint8 shape \\(5, 7\\)"):
        load_geometry_dir(da3)
    depth, c2w, K = _random_geometry(11, T=1)
    write_folder(tmp_path / "f", depth, depth_format="png")
    cv2.imwrite(str(tmp_path / "f" / "0000.png"), np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(ValueError, match="0000.png: expected a 16-bit single-channel PNG"):
        load_geometry_dir(tmp_path / "f")


def test_depth_maps_of_different_sizes(folder):
    np.save(folder / "0002.npy", np.ones((4, 7), np.float32))
    with pytest.raises(ValueError, match="0002.npy: depth map is 4x7 .* but 0000.npy is 5x7"):
        load_geometry_dir(folder)


def test_npy_never_unpickled_and_must_be_2d(folder):
    np.save(folder / "0001.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="0001.npy: not a readable .npy array"):
        load_geometry_dir(folder)
    np.save(folder / "0001.npy", np.ones((5, 7, 1), np.float32))
    with pytest.raises(ValueError, match=r"0001.npy: expected a 2-D numeric depth map .*shape \(5, 7, 1\)"):
        load_geometry_dir(folder)
    (folder / "0001.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="0001.npy: not a readable .npy array"):
        load_geometry_dir(folder)


def test_mixed_npy_and_png_depth(folder):
    cv2.imwrite(str(folder / "0003.png"), np.zeros((5, 7), np.uint16))
    with pytest.raises(ValueError, match="both .npy and .png"):
        load_geometry_dir(folder)


def test_da3_depth_name_and_missing_parts(da3):
    (da3 / "depth" / "0001.png").rename(da3 / "depth" / "frame1.png")
    with pytest.raises(ValueError, match="frame1.png: depth map name is not a frame number"):
        load_geometry_dir(da3)
    (da3 / "depth" / "frame1.png").unlink()
    (da3 / "intrinsic.txt").unlink()
    with pytest.raises(ValueError, match="intrinsic.txt is missing"):
        load_geometry_dir(da3)


def test_pi3_missing_and_malformed_parts(tmp_path):
    depth, c2w, K = _random_geometry(12, T=2)
    write_pi3(tmp_path / "g", depth, c2w, K)
    meta = tmp_path / "g" / "metadata.txt"
    meta.write_text("0.5 2.0 3.0\n")
    with pytest.raises(ValueError, match=_msg(meta) + ", line 1: expected one line \"min max\""):
        load_geometry_dir(tmp_path / "g")
    meta.write_text("2.0 0.5\n")
    with pytest.raises(ValueError, match="min=2.0 max=0.5"):
        load_geometry_dir(tmp_path / "g")
    meta.write_text("0.5 2.0\n")
    (tmp_path / "g" / "extrinsics.txt").unlink()
    with pytest.raises(ValueError, match="extrinsics.txt is missing"):
        load_geometry_dir(tmp_path / "g")


# ---------------------------------------------------------------- counts


def test_count_mismatch_messages(tmp_path):
    depth, c2w, K = _random_geometry(13, T=3)
    write_da3(tmp_path / "a", depth, c2w, K)
    ext = np.loadtxt(tmp_path / "a" / "extrinsic.txt")
    np.savetxt(tmp_path / "a" / "extrinsic.txt", ext[:6])
    with pytest.raises(ValueError, match="3 depth maps but 2 poses in .*extrinsic.txt"):
        load_geometry_dir(tmp_path / "a")
    np.savetxt(tmp_path / "a" / "extrinsic.txt", ext)
    intr = np.loadtxt(tmp_path / "a" / "intrinsic.txt")
    np.savetxt(tmp_path / "a" / "intrinsic.txt", intr[:6])
    with pytest.raises(ValueError, match="3 depth maps but 2 intrinsics in .*intrinsic.txt"):
        load_geometry_dir(tmp_path / "a")
    write_folder(tmp_path / "f", depth, c2w, K[0])
    np.savetxt(tmp_path / "f" / "poses.txt", c2w[:2].reshape(2, 16))
    with pytest.raises(ValueError, match="3 depth maps but 2 poses in .*poses.txt"):
        load_geometry_dir(tmp_path / "f")
    np.savetxt(tmp_path / "f" / "intrinsics.txt", np.concatenate([K[0], K[1]]))
    with pytest.raises(ValueError, match="intrinsics.txt: holds 2 matrices"):
        load_geometry_dir(tmp_path / "f")


def test_num_frames_mismatch_names_both_numbers():
    with pytest.raises(ValueError, match="3 depth maps but num_frames=4"):
        load_geometry_dir(FIXTURES / "da3", num_frames=4)
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1"):
        load_geometry_dir(FIXTURES / "da3", num_frames=0)


# ---------------------------------------------------------------- poses and text files


def _set_pose(folder: Path, t: int, m: np.ndarray) -> None:
    c2w = np.loadtxt(folder / "poses.txt").reshape(-1, 4, 4)
    c2w[t] = m
    np.savetxt(folder / "poses.txt", c2w.reshape(-1, 16))


def test_non_rigid_poses(folder):
    c2w = np.loadtxt(folder / "poses.txt").reshape(-1, 4, 4)
    scaled = c2w[1].copy()
    scaled[:3, :3] *= 1.1
    _set_pose(folder, 1, scaled)
    with pytest.raises(ValueError, match=r"poses.txt: frame 1 pose is not rigid: max \|R\^T R - I\| = 0.21"):
        load_geometry_dir(folder)
    mirrored = c2w[1].copy()
    mirrored[:3, 0] *= -1
    _set_pose(folder, 1, mirrored)
    with pytest.raises(ValueError, match="frame 1 pose is not rigid: .*det R = -1"):
        load_geometry_dir(folder)
    bottom = c2w[1].copy()
    bottom[3, 0] = 0.5
    _set_pose(folder, 1, bottom)
    with pytest.raises(ValueError, match=r"frame 1 pose has bottom row \[0.5, 0.0, 0.0, 1.0\]"):
        load_geometry_dir(folder)


def test_non_finite_pose(folder, da3):
    c2w = np.loadtxt(folder / "poses.txt").reshape(-1, 4, 4)
    c2w[2, 0, 3] = np.nan
    np.savetxt(folder / "poses.txt", c2w.reshape(-1, 16))
    with pytest.raises(ValueError, match="poses.txt: frame 2 pose is not finite"):
        load_geometry_dir(folder)
    ext = np.loadtxt(da3 / "extrinsic.txt")
    ext[3, 3] = np.inf
    np.savetxt(da3 / "extrinsic.txt", ext)
    with pytest.raises(ValueError, match="extrinsic.txt: frame 1 pose is not finite"):
        load_geometry_dir(da3)


def test_malformed_text_files(folder, da3):
    poses = folder / "poses.txt"
    lines = poses.read_text().splitlines()
    poses.write_text("\n".join([lines[0], " ".join(lines[1].split()[:15]), lines[2]]) + "\n")
    with pytest.raises(ValueError, match=_msg(poses) + ", line 2: 15 numbers; expected 16 on every line"):
        load_geometry_dir(folder)
    poses.write_text("\n".join([lines[0], lines[1].replace(lines[1].split()[3], "abc", 1), lines[2]]) + "\n")
    with pytest.raises(ValueError, match=_msg(poses) + ", line 2: 'abc' is not a number"):
        load_geometry_dir(folder)
    rows = np.loadtxt(folder / "poses.txt", max_rows=1).reshape(4, 4)
    np.savetxt(poses, rows)
    with open(poses, "a") as f:
        f.write(" ".join(["0"] * 16) + "\n")  # one row layout, then a flat matrix
    with pytest.raises(ValueError, match="line 5: 16 numbers; expected 16 on every line .* or 4 on every line"):
        load_geometry_dir(folder)
    ext = np.loadtxt(da3 / "extrinsic.txt")
    np.savetxt(da3 / "extrinsic.txt", ext[:8])
    with pytest.raises(ValueError, match="extrinsic.txt: 8 rows is not a whole number of 3x4 matrices"):
        load_geometry_dir(da3)
    np.savetxt(da3 / "extrinsic.txt", ext[:, :3])
    with pytest.raises(ValueError, match="extrinsic.txt, line 1: 3 numbers; expected 4 per line"):
        load_geometry_dir(da3)
    (da3 / "extrinsic.txt").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="extrinsic.txt: not a text file"):
        load_geometry_dir(da3)
    (da3 / "extrinsic.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="extrinsic.txt: holds no numbers"):
        load_geometry_dir(da3)


def test_bad_intrinsics(folder):
    np.savetxt(folder / "intrinsics.txt", [[-5.0, 0, 3], [0, 5, 2], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"intrinsics.txt: intrinsics 0 \[\[-5.0, .* is not a camera matrix"):
        load_geometry_dir(folder)
    np.savetxt(folder / "intrinsics.txt", [[5.0, 0, 3], [0, 5, 2], [0, 0, np.nan]])
    with pytest.raises(ValueError, match="intrinsics.txt: intrinsics 0 .*nan.* is not a camera matrix"):
        load_geometry_dir(folder)


# ---------------------------------------------------------------- writers


def test_writers_check_their_input(tmp_path):
    depth, c2w, K = _random_geometry(14, T=2)
    with pytest.raises(ValueError, match=r"depth must be a numeric \[T, H, W\] array"):
        write_folder(tmp_path / "a", depth[0])
    with pytest.raises(ValueError, match=r"c2w must be \[T, 4, 4\] = \[2, 4, 4\]"):
        write_da3(tmp_path / "a", depth, c2w[:1], K)
    bad = c2w.copy()
    bad[0, :3, :3] *= 2
    with pytest.raises(ValueError, match="c2w: frame 0 pose is not rigid"):
        write_pi3(tmp_path / "a", depth, bad, K)
    with pytest.raises(ValueError, match=r"K must be \[3, 3\], got shape \(2, 3, 3\)"):
        write_folder(tmp_path / "a", depth, c2w, K)
    with pytest.raises(ValueError, match="depth_format must be 'npy' or 'png'"):
        write_folder(tmp_path / "a", depth, depth_format="tiff")
    far = depth.copy()
    far[1, 0, 0] = 70.0
    with pytest.raises(ValueError, match="depth 70 m in frame 1 does not fit a 16-bit millimetre PNG"):
        write_folder(tmp_path / "a", far, depth_format="png")
    assert not list(tmp_path.iterdir())


def test_writers_are_atomic(tmp_path, monkeypatch):
    depth, c2w, K = _random_geometry(15, T=3)
    calls = []

    def failing_png(path, img, compression=3):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        cv2.imwrite(str(path), img)

    monkeypatch.setattr(external, "_write_png", failing_png)
    with pytest.raises(OSError, match="disk full"):
        write_da3(tmp_path / "g", depth, c2w, K)
    assert not list(tmp_path.iterdir())  # neither the folder nor its temporary sibling
    monkeypatch.undo()
    write_da3(tmp_path / "g", depth, c2w, K)
    with pytest.raises(FileExistsError, match="already exists"):
        write_da3(tmp_path / "g", depth, c2w, K)
    (tmp_path / "empty").mkdir()
    write_pi3(tmp_path / "empty", depth, c2w, K)  # an empty folder may be filled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "g"]
