"""Depth maps and camera poses made by other tools, read into one form.

Three layouts are read, all with OpenCV cameras (x right, y down, z forward):

``"da3"``  the original INSPATIO-WORLD Depth-Anything-3 output (depth/depth_predict_da3.py there):
    ``depth/0000.png`` ... RGBA 8-bit PNGs whose 4 bytes per pixel are one little-endian
    float32 depth; ``extrinsic.txt`` 3 rows (a 3x4 world-to-camera matrix) per frame;
    ``intrinsic.txt`` 3 rows (a 3x3 matrix) per frame, both written by np.savetxt.
``"pi3"``  its conversion for the video-to-video pipeline (scripts/convert_da3_to_pi3.py):
    ``depth/000000.png`` ... uint16 PNGs, depth = min + png / 65535 * (max - min) with one
    global "min max" line in ``metadata.txt``; ``extrinsics.txt`` one 3x4 world-to-camera
    matrix per line and ``intrinsics.txt`` one 3x3 matrix (frame 0's), as np.array2string.
``"folder"``  a plain folder: ``*.npy`` float32 depth maps in metres or 16-bit ``*.png``
    in millimetres (0 = unknown, as in 7-Scenes), in natural name order; optional
    ``poses.txt`` (camera-to-world 4x4, 16 numbers per line or 4 rows per frame) and
    ``intrinsics.txt`` (one 3x3 for all frames, 9 numbers or 3 rows).

Everything read is checked: a bad file raises ValueError naming it, never a silent
misreading, and .npy files are loaded without unpickling. The writers (for tests and
fixtures) make a folder whole or not at all and never overwrite a finished one
(io.atomic.atomic_dir).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..geometry.camera import invert_pose
from ..io.atomic import atomic_dir

__all__ = [
    "ImportedGeometry",
    "detect_format",
    "load_geometry_dir",
    "read_mm_png",
    "write_da3",
    "write_folder",
    "write_pi3",
]

RIGID_TOL = 1e-4  # how far from orthonormal (det +1) a rotation read from text may be
_PI3_MAX = 65535.0
_MM_MAX = 65535
# what each reader returns: depth [T, H, W], c2w [T, 4, 4] or None, Ks [1 or T, 3, 3] or None,
# and the files the poses and intrinsics came from (for messages)
_Loaded = tuple[np.ndarray, np.ndarray | None, np.ndarray | None, dict[str, Path]]


@dataclass
class ImportedGeometry:
    """Geometry of T frames, as read from a folder made elsewhere."""

    depth: np.ndarray  # [T, H, W] float32 metres (or the tool's units), 0 = unknown
    c2w: np.ndarray | None  # [T, 4, 4] float64 camera-to-world, OpenCV axes
    K: np.ndarray | None  # [3, 3] float64 at the depth maps' resolution (frame 0's if per frame)
    format: str  # "da3", "pi3" or "folder"
    path: str


# ---------------------------------------------------------------- detection


def detect_format(path: str | Path) -> str:
    """Which layout a folder holds, from the files that mark each one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"geometry folder not found: {str(path)!r}")
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a folder")
    names = {p.name for p in path.iterdir()}
    if "metadata.txt" in names:
        return "pi3"
    if "extrinsic.txt" in names or "intrinsic.txt" in names:
        return "da3"
    if _folder_depth_files(path):
        return "folder"
    found = sorted(n for n in names if not n.startswith("."))
    shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "") if found else "nothing"
    raise ValueError(
        f"{str(path)!r} is not a geometry folder: expected a DA3 output (depth/, extrinsic.txt, "
        f"intrinsic.txt), a Pi3 conversion (depth/, metadata.txt, extrinsics.txt, intrinsics.txt) "
        f"or *.npy / 16-bit *.png depth maps; found {shown}"
    )


# ---------------------------------------------------------------- loading


def load_geometry_dir(path: str | Path, num_frames: int | None = None) -> ImportedGeometry:
    """Read a DA3, Pi3 or plain geometry folder (see the module docstring).

    `num_frames`, when given, is the number of video frames the geometry must cover: a
    different count is an error rather than a silent misalignment of frames and depth.
    """
    if num_frames is not None and (
        isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1
    ):
        raise ValueError(f"num_frames must be an integer >= 1 or None, got {num_frames!r}")
    fmt = detect_format(path)
    path = Path(path)
    depth, c2w, Ks, sources = {"da3": _load_da3, "pi3": _load_pi3, "folder": _load_folder}[fmt](path)
    T = len(depth)
    if c2w is not None and len(c2w) != T:
        raise ValueError(f"{path}: {T} depth maps but {len(c2w)} poses in {sources['poses']}")
    if Ks is not None and len(Ks) not in (1, T):
        raise ValueError(f"{path}: {T} depth maps but {len(Ks)} intrinsics in {sources['K']}")
    if num_frames is not None and T != num_frames:
        raise ValueError(f"{path}: {T} depth maps but num_frames={num_frames}")
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    return ImportedGeometry(
        depth=depth, c2w=c2w, K=None if Ks is None else Ks[0].copy(), format=fmt, path=str(path)
    )


def _cameras(path: Path, ext_name: str, intr_name: str, parse) -> tuple[np.ndarray, np.ndarray, dict]:
    """(c2w, Ks, the files read) from world-to-camera 3x4 matrices and 3x3 intrinsics laid out
    as `parse` reads them (DA3: rows of matrices; Pi3: one matrix per line)."""
    ext, intr = _require(path, ext_name), _require(path, intr_name)
    c2w = invert_pose(_rigid(parse(_read_numbers(ext), ext, (3, 4)), ext))
    Ks = _check_K(parse(_read_numbers(intr), intr, (3, 3)), intr)
    return c2w, Ks, {"poses": ext, "K": intr}


def _load_da3(path: Path) -> _Loaded:
    files = _numbered_pngs(path / "depth")
    depth = _stack([_read_rgba_float(f) for f in files], files)
    return depth, *_cameras(path, "extrinsic.txt", "intrinsic.txt", _matrices_from_rows)


def _load_pi3(path: Path) -> _Loaded:
    meta = _require(path, "metadata.txt")
    lo, hi = _read_min_max(meta)
    files = _numbered_pngs(path / "depth")
    codes = _stack([_read_uint16(f) for f in files], files)
    depth = lo + codes.astype(np.float64) / _PI3_MAX * (hi - lo)
    return depth, *_cameras(path, "extrinsics.txt", "intrinsics.txt", _matrices_per_line)


def _load_folder(path: Path) -> _Loaded:
    files = _folder_depth_files(path)
    suffixes = {f.suffix.lower() for f in files}
    if len(suffixes) > 1:
        raise ValueError(f"{path}: holds both .npy and .png depth maps; keep one kind")
    read = _read_npy if suffixes == {".npy"} else read_mm_png
    depth = _stack([read(f) for f in files], files)
    c2w = Ks = None
    poses, intr = path / "poses.txt", path / "intrinsics.txt"
    if poses.exists():
        c2w = _rigid(_matrices_any(_read_numbers(poses), poses, (4, 4)), poses)
    if intr.exists():
        Ks = _check_K(_matrices_any(_read_numbers(intr), intr, (3, 3)), intr)
        if len(Ks) != 1:
            raise ValueError(f"{intr}: holds {len(Ks)} matrices; a plain folder has one 3x3 for all frames")
    return depth, c2w, Ks, {"poses": poses, "K": intr}


# ---------------------------------------------------------------- depth files


def _natural_key(name: str) -> list:
    """'d2' before 'd10'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _folder_depth_files(path: Path) -> list[Path]:
    """The depth maps of a plain folder; PNGs named '*depth*', when there are any, are the
    only depth maps (7-Scenes keeps colour and depth images side by side)."""
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() in (".npy", ".png")]
    if any("depth" in p.name.lower() for p in files if p.suffix.lower() == ".png"):
        files = [p for p in files if p.suffix.lower() == ".npy" or "depth" in p.name.lower()]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _numbered_pngs(folder: Path) -> list[Path]:
    """depth/NNNN.png in frame order, as the original sorts them (by the integer name)."""
    if not folder.is_dir():
        raise ValueError(f"{folder.parent}: no depth/ folder")
    files = [p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")]
    if not files:
        raise ValueError(f"{folder}: no depth maps (*.png)")
    for f in files:
        if not f.stem.isdigit():
            raise ValueError(f"{f}: depth map name is not a frame number (expected e.g. 0000.png)")
    return sorted(files, key=lambda p: int(p.stem))


def _stack(maps: list[np.ndarray], files: list[Path]) -> np.ndarray:
    for m, f in zip(maps, files):
        if m.shape != maps[0].shape:
            raise ValueError(
                f"{f}: depth map is {m.shape[0]}x{m.shape[1]} (HxW) but {files[0].name} is "
                f"{maps[0].shape[0]}x{maps[0].shape[1]}; all depth maps must be one size"
            )
    return np.stack(maps)


def _decode_png(path: Path) -> np.ndarray:
    buf = np.fromfile(str(path), np.uint8)
    img = None
    if buf.size:
        with contextlib.suppress(cv2.error):
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: not a readable PNG (corrupt, empty or another format)")
    return img


def _read_rgba_float(path: Path) -> np.ndarray:
    """DA3 depth: the RGBA bytes of each pixel are one little-endian float32."""
    img = _decode_png(path)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4:
        raise ValueError(f"{path}: expected an 8-bit RGBA PNG (a float32 per pixel), got {_describe(img)}")
    rgba = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)  # cv2 decodes as BGRA; the bytes are in RGBA order
    return np.ascontiguousarray(rgba).view("<f4")[..., 0].astype(np.float32)


def _read_uint16(path: Path) -> np.ndarray:
    img = _decode_png(path)
    if img.dtype != np.uint16 or img.ndim != 2:
        raise ValueError(f"{path}: expected a 16-bit single-channel PNG, got {_describe(img)}")
    return img


def read_mm_png(path: Path) -> np.ndarray:
    """Millimetres; 0 and 65535 (7-Scenes' "no measurement") are unknown depth."""
    raw = _read_uint16(path)
    return np.where(raw == 65535, 0, raw).astype(np.float32) / np.float32(1000.0)


def _read_npy(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray) or a.ndim != 2 or not (
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    ):
        raise ValueError(f"{path}: expected a 2-D numeric depth map [H, W], got {_describe(a)}")
    return a.astype(np.float32)


def _describe(a: np.ndarray) -> str:
    return f"dtype {a.dtype} shape {tuple(a.shape)}"


# ---------------------------------------------------------------- text files


_SEPARATORS = re.compile(r"[\[\],;]")  # np.array2string brackets and commas


def _require(folder: Path, name: str) -> Path:
    p = folder / name
    if not p.is_file():
        raise ValueError(f"{folder}: {name} is missing")
    return p


def _read_numbers(path: Path) -> list[tuple[int, np.ndarray]]:
    """(line number, numbers) of each line that has any; '#' starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        tokens = _SEPARATORS.sub(" ", line.split("#", 1)[0]).split()
        if not tokens:
            continue
        values = []
        for tok in tokens:
            try:
                values.append(float(tok))
            except ValueError:
                raise ValueError(f"{path}, line {n}: {tok!r} is not a number") from None
        rows.append((n, np.array(values)))
    if not rows:
        raise ValueError(f"{path}: holds no numbers")
    return rows


def _matrices_from_rows(lines: list, path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Matrices written a row per line (np.savetxt), shape[0] lines each."""
    r, c = shape
    for n, v in lines:
        if len(v) != c:
            raise ValueError(
                f"{path}, line {n}: {len(v)} numbers; expected {c} per line ({r} rows per {r}x{c} matrix)"
            )
    if len(lines) % r:
        raise ValueError(f"{path}: {len(lines)} rows is not a whole number of {r}x{c} matrices ({r} rows each)")
    return np.stack([v for _, v in lines]).reshape(-1, r, c)


def _matrices_per_line(lines: list, path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Matrices written one per line (np.array2string without newlines, or flat numbers)."""
    r, c = shape
    for n, v in lines:
        if len(v) != r * c:
            raise ValueError(
                f"{path}, line {n}: {len(v)} numbers; expected {r * c} (one {r}x{c} matrix per line)"
            )
    return np.stack([v for _, v in lines]).reshape(-1, r, c)


def _matrices_any(lines: list, path: Path, shape: tuple[int, int]) -> np.ndarray:
    """One matrix per line or a row per line, told apart by the count of numbers per line."""
    r, c = shape
    first = len(lines[0][1])
    for n, v in lines:
        if len(v) not in (r * c, c) or len(v) != first:
            raise ValueError(
                f"{path}, line {n}: {len(v)} numbers; expected {r * c} on every line (one {r}x{c} matrix "
                f"per line) or {c} on every line ({r} rows per matrix)"
            )
    return (_matrices_per_line if first == r * c else _matrices_from_rows)(lines, path, shape)


def _rigid(M: np.ndarray, path: Path) -> np.ndarray:
    """[T, 3 or 4, 4] rigid transforms as [T, 4, 4], each rotation snapped to the nearest
    orthonormal one (text files round the last digits) once it is known to be close."""
    out = np.zeros((len(M), 4, 4))
    for i, m in enumerate(M):
        if not np.isfinite(m).all():
            raise ValueError(f"{path}: frame {i} pose is not finite: {m.tolist()}")
        if len(m) == 4 and np.abs(m[3] - [0, 0, 0, 1]).max() > RIGID_TOL:
            raise ValueError(f"{path}: frame {i} pose has bottom row {m[3].tolist()}, not [0, 0, 0, 1]")
        R = m[:3, :3]
        err, det = np.abs(R.T @ R - np.eye(3)).max(), np.linalg.det(R)
        if err > RIGID_TOL or abs(det - 1) > RIGID_TOL:
            raise ValueError(
                f"{path}: frame {i} pose is not rigid: max |R^T R - I| = {err:.3g}, det R = {det:.6g} "
                f"(a rotation needs both within {RIGID_TOL:g} of 0 and 1)"
            )
        U, _, Vt = np.linalg.svd(R)
        out[i, :3, :3] = U @ Vt
        out[i, :3, 3] = m[:3, 3]
        out[i, 3, 3] = 1.0
    return out


def _check_K(Ks: np.ndarray, path: Path) -> np.ndarray:
    for i, K in enumerate(Ks):
        if not np.isfinite(K).all() or np.abs(K[2] - [0, 0, 1]).max() > 1e-6 or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(
                f"{path}: intrinsics {i} {K.tolist()} is not a camera matrix "
                "(finite, fx > 0, fy > 0, last row [0, 0, 1])"
            )
    return Ks.astype(np.float64)


def _read_min_max(path: Path) -> tuple[float, float]:
    lines = _read_numbers(path)
    n, v = lines[0]
    if len(lines) != 1 or len(v) != 2:
        raise ValueError(
            f"{path}, line {n}: expected one line \"min max\", got {len(lines)} line(s), {len(v)} numbers"
        )
    lo, hi = float(v[0]), float(v[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi >= lo):
        raise ValueError(f"{path}: depth range min={lo} max={hi} is not finite with max >= min")
    return lo, hi


# ---------------------------------------------------------------- writers


def write_da3(path: str | Path, depth: np.ndarray, c2w: np.ndarray, K: np.ndarray) -> None:
    """Write a DA3 output folder as the original does: depth/%04d.png (float32 bytes as
    RGBA, PNG compression 0), extrinsic.txt (world-to-camera 3x4) and intrinsic.txt
    (3x3 per frame; K may be [3, 3] for all frames or [T, 3, 3])."""
    depth, c2w, Ks = _check_write_args(depth, c2w, K, per_frame_K=True)
    with atomic_dir(path) as tmp:
        (tmp / "depth").mkdir()
        for t, d in enumerate(depth):
            rgba = np.ascontiguousarray(d.astype("<f4")).view(np.uint8).reshape(*d.shape, 4)
            _write_png(tmp / "depth" / f"{t:04d}.png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), compression=0)
        with open(tmp / "extrinsic.txt", "w") as fp:
            for w2c in invert_pose(c2w):
                np.savetxt(fp, w2c[:3, :])
        with open(tmp / "intrinsic.txt", "w") as fp:
            for k in np.broadcast_to(Ks, (len(depth), 3, 3)):
                np.savetxt(fp, k)


def write_pi3(path: str | Path, depth: np.ndarray, c2w: np.ndarray, K: np.ndarray) -> None:
    """Write a Pi3 folder as scripts/convert_da3_to_pi3.py does: depth/%06d.png uint16
    over one global [min, max] in metadata.txt, extrinsics.txt (world-to-camera 3x4 per
    line) and intrinsics.txt (frame 0's 3x3), the matrices as np.array2string lines.

    Unlike the converter, depth is rounded to the nearest code (not truncated), which
    halves the error, and the matrices keep every digit; the files read the same way."""
    depth, c2w, Ks = _check_write_args(depth, c2w, K, per_frame_K=True)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float64)
    lo, hi = float(depth.min()), float(depth.max())
    scale = _PI3_MAX / (hi - lo) if hi > lo else 0.0
    codes = np.rint((depth - lo) * scale).clip(0, _PI3_MAX).astype(np.uint16)
    with atomic_dir(path) as tmp:
        (tmp / "depth").mkdir()
        for t, c in enumerate(codes):
            _write_png(tmp / "depth" / f"{t:06d}.png", c)
        (tmp / "metadata.txt").write_text(f"{lo} {hi}\n")
        lines = [_array_line(w2c[:3, :]) for w2c in invert_pose(c2w)]
        (tmp / "extrinsics.txt").write_text("".join(line + "\n" for line in lines))
        (tmp / "intrinsics.txt").write_text(_array_line(Ks[0]) + "\n")


def write_folder(
    path: str | Path, depth: np.ndarray, c2w: np.ndarray | None = None, K: np.ndarray | None = None,
    *, depth_format: str = "npy",
) -> None:
    """Write a plain folder: %04d.npy float32 depth maps, or %04d.png uint16 millimetres
    with depth_format="png" (0 = unknown; over 65.535 m is an error); poses.txt with one
    camera-to-world 4x4 per line and intrinsics.txt with one 3x3 as 9 numbers."""
    if depth_format not in ("npy", "png"):
        raise ValueError(f"depth_format must be 'npy' or 'png', got {depth_format!r}")
    depth, c2w, Ks = _check_write_args(depth, c2w, K, per_frame_K=False)
    if depth_format == "png":
        mm = np.rint(np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float64) * 1000.0)
        if mm.max() > _MM_MAX:
            t = int(np.argmax(mm.reshape(len(mm), -1).max(axis=1)))
            raise ValueError(
                f"depth {mm.max() / 1000:g} m in frame {t} does not fit a 16-bit millimetre PNG (max 65.535 m)"
            )
    with atomic_dir(path) as tmp:
        for t, d in enumerate(depth):
            if depth_format == "npy":
                np.save(tmp / f"{t:04d}.npy", d.astype(np.float32))
            else:
                _write_png(tmp / f"{t:04d}.png", mm[t].astype(np.uint16))
        if c2w is not None:
            np.savetxt(tmp / "poses.txt", c2w.reshape(len(c2w), 16))
        if Ks is not None:
            np.savetxt(tmp / "intrinsics.txt", Ks[0].reshape(1, 9))


def _check_write_args(depth, c2w, K, per_frame_K: bool):
    depth = np.asarray(depth)
    if depth.ndim != 3 or len(depth) == 0 or not np.issubdtype(depth.dtype, np.number):
        raise ValueError(f"depth must be a numeric [T, H, W] array with T >= 1, got {_describe(depth)}")
    T = len(depth)
    if c2w is not None:
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (T, 4, 4):
            raise ValueError(f"c2w must be [T, 4, 4] = [{T}, 4, 4] to match depth, got shape {c2w.shape}")
        c2w = _rigid(c2w, Path("c2w"))
    Ks = None
    if K is not None:
        Ks = np.asarray(K, dtype=np.float64)
        Ks = Ks[None] if Ks.shape == (3, 3) else Ks
        if Ks.shape != (1, 3, 3) and not (per_frame_K and Ks.shape == (T, 3, 3)):
            want = f"[3, 3] or [{T}, 3, 3]" if per_frame_K else "[3, 3]"
            raise ValueError(f"K must be {want}, got shape {np.shape(K)}")
        Ks = _check_K(Ks, Path("K"))
    return depth, c2w, Ks


def _array_line(m: np.ndarray) -> str:
    """A matrix as one "[[a, b], [c, d]]" line, every digit kept; the original reads these
    lines (np.array2string output) with ast.literal_eval, which reads this the same."""
    return str(np.asarray(m, dtype=np.float64).tolist())


def _write_png(path: Path, img: np.ndarray, compression: int = 3) -> None:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError(f"could not encode {path} as PNG")
    buf.tofile(str(path))
