"""Building reference worlds from a procedural scene, a video, an image folder or arrays."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..geometry.camera import intrinsics_from_fov
from .reference import ReferenceWorld
from ..io.video import crop_transform, read_image_folder, read_video

__all__ = [
    "DepthPriorWarning",
    "procedural_world",
    "video_world",
    "array_world",
    "load_geometry_file",
    "load_world",
    "seven_scenes_world",
    "is_procedural_spec",
    "PLANE_PRIOR_DEPTH",
]

#: Depth of the fronto-parallel plane assumed for videos that bring no depth (world units).
PLANE_PRIOR_DEPTH = 1.0


class DepthPriorWarning(UserWarning):
    """The world's depth is a guess: rotation is exact, translation parallax is not."""


def procedural_world(
    seed: int = 0,
    kind: str = "room",
    path: str = "pan",
    num_frames: int = 48,
    width: int = 64,
    height: int = 64,
    fov: float = 60.0,
    fps: float = 12.0,
    supersample: int = 2,
) -> ReferenceWorld:
    """A reference video of a procedural scene with exact depth and poses."""
    from ..scenes import make_scene

    scene = make_scene(seed, kind)
    c2w = scene.source_path(path, num_frames).to(torch.float64)
    K = intrinsics_from_fov(width, height, fov)
    t = torch.arange(num_frames, dtype=torch.float32) / fps
    rgbs, depths = [], []
    for i in range(0, num_frames, 16):  # chunks bound the memory at large sizes
        rgb, depth = scene.render(c2w[i : i + 16], torch.from_numpy(K), height, width, t[i : i + 16], supersample)
        rgbs.append((rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8))
        depths.append(depth)
    return ReferenceWorld(
        frames=torch.cat(rgbs).numpy(),
        depth=torch.cat(depths).numpy(),
        K=K,
        c2w=c2w.numpy(),
        fps=fps,
        name=f"procedural:{kind}:seed={seed}:path={path}",
        depth_source="ground_truth",
        meta={"scene": scene, "seed": seed, "kind": kind, "path": path},
    )


def load_geometry_file(path: str | Path) -> dict[str, np.ndarray]:
    """Depth and optional poses/intrinsics from .npy (depth only) or .npz (depth, c2w, K).

    Loaded with allow_pickle=False: geometry files are data, never code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {str(path)!r}")
    try:
        if path.suffix == ".npy":
            return {"depth": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
            if "depth" not in out:
                raise ValueError(f"depth file {str(path)!r} has no 'depth' array (has {sorted(out)})")
            aliases = {"poses": "c2w", "intrinsics": "K"}
            return {aliases.get(k, k): v for k, v in out.items()}
    except (OSError, ValueError) as e:
        if "has no 'depth'" in str(e):
            raise
        raise ValueError(f"cannot read depth file {str(path)!r}: {e}") from None
    raise ValueError(f"depth file must be .npy or .npz, got {str(path)!r}")


def _fit_depth(depth: np.ndarray, T: int, width: int, height: int, src_size: tuple[int, int] | None) -> np.ndarray:
    """User depth at the output size, or at the source size (cropped and resized like the frames)."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 3 or depth.shape[0] != T:
        raise ValueError(f"depth must be [T,H,W] with T={T} frames, got shape {depth.shape}")
    if depth.shape[1:] == (height, width):
        return depth
    if src_size is not None and depth.shape[1:] == (src_size[1], src_size[0]):
        x0, y0, cw, ch, _ = crop_transform(src_size[0], src_size[1], width, height)
        return np.stack(
            [cv2.resize(d[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=cv2.INTER_NEAREST) for d in depth]
        )
    expect = f"{(T, height, width)}" + (f" or {(T, src_size[1], src_size[0])}" if src_size else "")
    raise ValueError(f"depth shape {depth.shape} matches neither the env frames nor the source: expected {expect}")


def _fit_K(K: np.ndarray, width: int, height: int, src_size: tuple[int, int] | None) -> np.ndarray:
    """Intrinsics given for the source resolution, moved through the same crop and resize."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3x3, got shape {K.shape}")
    if src_size is None or src_size == (width, height):
        return K
    x0, y0, _, _, s = crop_transform(src_size[0], src_size[1], width, height)
    K2 = K.copy()
    K2[0, 0] *= s
    K2[1, 1] *= s
    K2[0, 2] = (K[0, 2] - x0 + 0.5) * s - 0.5
    K2[1, 2] = (K[1, 2] - y0 + 0.5) * s - 0.5
    return K2


def array_world(
    frames: np.ndarray,
    depth: np.ndarray | None = None,
    c2w: np.ndarray | None = None,
    K: np.ndarray | None = None,
    fps: float = 30.0,
    fov: float = 60.0,
    name: str = "arrays",
    src_size: tuple[int, int] | None = None,
) -> ReferenceWorld:
    """A world from frames [T,H,W,3] uint8 and whatever geometry the caller has.

    No depth: a fronto-parallel plane at PLANE_PRIOR_DEPTH with a DepthPriorWarning.
    No poses: a static camera (identity for every frame).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T,H,W,3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    T, H, W, _ = frames.shape
    if depth is None:
        warnings.warn(
            f"world {name!r} has no depth: using a fronto-parallel plane prior at depth {PLANE_PRIOR_DEPTH} "
            "(rotations are exact; translation parallax will be wrong). Pass depth= for real geometry.",
            DepthPriorWarning,
            stacklevel=3,
        )
        depth_arr = np.full((T, H, W), PLANE_PRIOR_DEPTH, dtype=np.float32)
        source = "plane_prior"
    else:
        depth_arr = _fit_depth(depth, T, W, H, src_size)
        source = "user"
    if c2w is None:
        c2w = np.broadcast_to(np.eye(4), (T, 4, 4)).copy()
    else:
        c2w = np.asarray(c2w, dtype=np.float64)
        if c2w.shape != (T, 4, 4):
            raise ValueError(f"poses must be [T,4,4] with T={T} frames, got shape {c2w.shape}")
    K = intrinsics_from_fov(W, H, fov) if K is None else _fit_K(K, W, H, src_size)
    return ReferenceWorld(frames, depth_arr, K, c2w, fps, name=name, depth_source=source)


def seven_scenes_world(folder: str | Path, width: int = 64, height: int = 64) -> ReferenceWorld:
    """A 7-Scenes sequence: frames/*.color.png, .depth.png (mm), .pose.txt (c2w) and
    camera-intrinsics.txt (K; without it 7-Scenes' own fx = fy = 585 at the image centre)."""
    folder = Path(folder)
    files = sorted((folder / "frames").glob("*.color.png"))
    if not files:
        raise FileNotFoundError(f"no frames/*.color.png in {str(folder)!r}")
    rgb, depth, c2w = [], [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        z = cv2.imread(str(f).replace(".color.png", ".depth.png"), cv2.IMREAD_UNCHANGED)
        if img is None or z is None:
            raise ValueError(f"cannot read {str(f)!r} or its depth")
        rgb.append(img[..., ::-1])
        z = z.astype(np.float32)
        z[(z == 0) | (z >= 65535)] = 0
        depth.append(z / 1000.0)
        pose = np.loadtxt(str(f).replace(".color.png", ".pose.txt"))
        u, _, vt = np.linalg.svd(pose[:3, :3])  # the files' rotations are off orthonormal by up to 1.6e-4
        pose[:3, :3] = u @ vt
        pose[3] = (0, 0, 0, 1)
        c2w.append(pose)
    frames = np.stack(rgb)
    H, W = frames.shape[1:3]
    kfile = folder / "camera-intrinsics.txt"
    K = np.loadtxt(kfile) if kfile.is_file() else np.array([[585.0, 0, W / 2], [0, 585.0, H / 2], [0, 0, 1]])
    d = np.stack(depth)
    # holes in the sensor's depth take the frame's median, so warps have no missing points
    for z in d:
        if (z > 0).any():
            z[z == 0] = np.median(z[z > 0])
    return array_world(_fit_rgb(frames, width, height), depth=d, c2w=np.stack(c2w), K=K, fps=30.0,
                       name=folder.name, src_size=(W, H))


def video_world(
    path: str | Path,
    width: int = 64,
    height: int = 64,
    stride: int = 1,
    max_frames: int | None = None,
    depth: str | Path | np.ndarray | None = None,
    c2w: np.ndarray | None = None,
    K: np.ndarray | None = None,
    fov: float = 60.0,
    fps: float | None = None,
    pattern: str | None = None,
    geometry: str | Path = "auto",
    progress: bool = True,
    preprocess: dict[str, Any] | None = None,
) -> ReferenceWorld:
    """A world from a video file or an image folder, with optional user geometry.

    Without depth, geometry says where it comes from: "auto" (preprocess: SfM poses and
    plane-sweep depth, or the ground-plane prior when the clip has no parallax; cached on
    disk, see recon.disk_cache), "plane" (a fronto-parallel plane, static camera: instant), or
    a folder of depth and poses made elsewhere (the original system's DA3 output, its Pi3
    conversion, or a plain folder; see recon.external). preprocess: PreprocessSettings fields
    (e.g. {"long_side": 480}); fov is the focal prior. With "auto", stride and max_frames
    apply to the preprocessed frames (at most 300, evenly spaced, by default).
    depth may be an array or a .npy/.npz file (an .npz may also carry c2w and K);
    arrays at the source resolution are cropped and resized like the frames, and K given
    for the source resolution is moved through the same crop and resize. pattern selects
    the images of a folder (glob, e.g. "*.color.png").
    """
    path = Path(path)
    named = isinstance(geometry, str) and geometry in ("auto", "plane")
    if not named and any(v is not None for v in (depth, c2w, K)):
        raise ValueError(f"geometry={str(geometry)!r} (a folder of depth and poses) cannot be combined with "
                         "depth=, c2w= or K=: give one source of geometry")
    if depth is None and c2w is None and K is None and not (isinstance(geometry, str) and geometry == "plane"):
        if isinstance(geometry, str) and geometry == "auto":
            if pattern is not None and not path.is_dir():
                raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
            from ..recon.preprocess import PreprocessSettings

            try:
                settings = PreprocessSettings(**{"fov": float(fov), **(preprocess or {})})
            except TypeError as e:
                raise ValueError(f"bad preprocess option: {e}") from None
            return _preprocessed_world(path, width, height, stride, max_frames, fps, progress, pattern, settings)
        return _imported_world(path, geometry, width, height, stride, max_frames, fov, fps, pattern)
    if preprocess is not None:
        raise ValueError("preprocess= applies to geometry='auto' without user depth, c2w or K")
    if path.is_dir():
        (frames, src), vfps = read_image_folder(path, width, height, stride, max_frames, pattern), 30.0
    else:
        if pattern is not None:
            raise ValueError(f"pattern={pattern!r} applies to image folders, but {str(path)!r} is a file")
        frames, vfps, src = read_video(path, width, height, stride, max_frames)
    if isinstance(depth, (str, Path)):
        depth_file = str(depth)
        geo = load_geometry_file(depth)
        depth = geo["depth"]
        c2w = geo.get("c2w", c2w)
        K = geo.get("K", K)
        for key, val, shape in (("c2w", c2w, (None, 4, 4)), ("K", K, (3, 3))):
            arr = None if val is None else np.asarray(val)
            if arr is not None and (arr.ndim != len(shape) or any(a != b for a, b in zip(arr.shape, shape) if b)):
                raise ValueError(f"{key} in depth file {depth_file!r} has shape {arr.shape}, expected "
                                 f"{'[T,4,4]' if key == 'c2w' else '[3,3]'}")
    if depth is not None:
        depth = np.asarray(depth)
        if depth.ndim == 3 and depth.shape[0] > len(frames):
            depth = depth[::stride][: len(frames)]
    if c2w is not None and np.ndim(c2w) == 3 and len(c2w) > len(frames):
        c2w = np.asarray(c2w)[::stride][: len(frames)]
    return array_world(frames, depth, c2w, K, fps or vfps, fov, name=path.name, src_size=src)


def _fit_rgb(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames [T, h, w, 3] centre-cropped to the target aspect and resized, like fit_frame."""
    h, w = frames.shape[1:3]
    if (w, h) == (width, height):
        return frames
    x0, y0, cw, ch, sc = crop_transform(w, h, width, height)
    interp = cv2.INTER_AREA if sc < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f[y0 : y0 + ch, x0 : x0 + cw], (width, height), interpolation=interp) for f in frames])


def _preprocessed_world(path: Path, width: int, height: int, stride: int, max_frames: int | None,
                        fps: float | None, progress: bool, pattern: str | None = None,
                        settings: Any = None) -> ReferenceWorld:
    """A world from the (cached) preprocessed geometry of a video: see recon.preprocess."""
    from ..recon.disk_cache import preprocessed
    from ..io.video import check_sampling

    check_sampling(stride, max_frames)
    from ..recon.preprocess import PreprocessSettings

    pre, hit = preprocessed(path, settings or PreprocessSettings(), progress=progress, pattern=pattern)
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    frames, depth, c2w = pre.frames[sel], pre.depth[sel], pre.c2w[sel]
    src = (pre.frames.shape[2], pre.frames.shape[1])
    fallback = pre.report.get("fallback")
    if fallback and hit:  # the preprocessing warned when it ran; a cache hit warns again
        from ..recon.preprocess import NoParallaxWarning

        warnings.warn(f"{path.name}: {pre.report.get('fallback_reason')}: depth is the ground-plane prior",
                      NoParallaxWarning, stacklevel=4)
    world = ReferenceWorld(_fit_rgb(frames, width, height), _fit_depth(depth, len(frames), width, height, src),
                           _fit_K(pre.K, width, height, src), c2w, fps or pre.fps / stride, name=path.name,
                           depth_source="ground_plane_prior" if fallback else "sfm",
                           meta={"preprocess": pre.report, "cache_hit": hit})
    return world


def _imported_world(path: Path, geometry: str | Path, width: int, height: int, stride: int,
                    max_frames: int | None, fov: float, fps: float | None, pattern: str | None) -> ReferenceWorld:
    """A world from a video and a folder of depth/poses made elsewhere (recon.external)."""
    from ..recon.external import load_geometry_dir

    if path.is_dir():
        (frames, src), vfps = read_image_folder(path, width, height, stride, max_frames, pattern), 30.0
    else:
        frames, vfps, src = read_video(path, width, height, stride, max_frames)
    geo = load_geometry_dir(geometry)
    n = len(geo.depth)
    sel = slice(0, None if max_frames is None else max_frames * stride, stride)
    depth = geo.depth[sel]
    if len(depth) != len(frames):
        raise ValueError(f"imported geometry {str(geometry)!r} has {n} depth maps; with stride {stride} that gives "
                         f"{len(depth)}, but the video gave {len(frames)} frames")
    dsize = (geo.depth.shape[2], geo.depth.shape[1])
    c2w = None if geo.c2w is None else np.linalg.inv(geo.c2w[0]) @ geo.c2w[sel]
    # depth and K are fitted from the depth maps' own size here; array_world gets them final
    world = array_world(frames, _fit_depth(depth, len(frames), width, height, dsize), c2w,
                        None if geo.K is None else _fit_K(geo.K, width, height, dsize), fps or vfps, fov,
                        name=path.name)
    world.depth_source = f"imported:{geo.format}"
    return world


def is_procedural_spec(source: Any) -> bool:
    """True for the strings "procedural" and "procedural:key=value,...", never for a Path."""
    return isinstance(source, str) and (source == "procedural" or source.startswith("procedural:"))


def _parse_procedural(spec: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for item in filter(None, spec.partition(":")[2].split(",")):
        key, _, val = item.partition("=")
        key, val = key.strip(), val.strip()
        if key not in ("seed", "kind", "path", "num_frames"):
            raise ValueError(f"unknown procedural world option {key!r} in {spec!r}")
        if key in ("seed", "num_frames"):
            try:
                kw[key] = int(val)
            except ValueError:
                raise ValueError(f"procedural world option {key}={val!r} in {spec!r} must be an integer") from None
        else:
            kw[key] = val
    return kw


def load_world(source: Any = None, width: int = 64, height: int = 64, **options: Any) -> ReferenceWorld:
    """Any supported source: None (the default procedural world), a ReferenceWorld, a
    "procedural:..." string (e.g. "procedural:seed=3,path=dolly,kind=room"), or a path
    (str or Path) to a video file or an image folder. options go to the matching builder."""
    if isinstance(source, ReferenceWorld):
        if (source.width, source.height) != (width, height):
            raise ValueError(
                f"world {source.name!r} is {source.width}x{source.height} but the env wants {width}x{height}"
            )
        return source
    if source is None or is_procedural_spec(source):
        kw = _parse_procedural(source) if source else {}
        allowed = {"num_frames", "fov", "fps", "supersample", "seed", "kind", "path"}
        bad = set(options) - allowed
        if bad:
            raise ValueError(f"unknown option(s) {sorted(bad)} for a procedural world (allowed: {sorted(allowed)})")
        return procedural_world(width=width, height=height, **{**options, **kw})
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"video not found: {str(source)!r}")
        allowed = {"stride", "max_frames", "depth", "c2w", "K", "fov", "fps", "pattern", "geometry", "progress",
                   "preprocess"}
        bad = set(options) - allowed
        if bad:
            raise ValueError(f"unknown option(s) {sorted(bad)} for a video world (allowed: {sorted(allowed)})")
        return video_world(p, width, height, **options)
    raise TypeError(f"cannot build a world from {type(source).__name__}: {source!r}")
