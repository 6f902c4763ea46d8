"""A video becomes geometry: frames, per-frame depth, intrinsics and camera poses.

Stages (each with a progress bar): read the video streamed and downscaled; measure its
parallax; with enough parallax, camera poses by COLMAP SfM and dense depth by plane sweep
(the sparse points fix its depth range and unit, seed the filling of its holes, and score
it where it measured: anchor agreement); without (a static or only rotating camera, a clip SfM
cannot register), the ground-plane prior with rotations from homographies, recorded in
the report (`fallback`, `fallback_reason`, `poses`) rather than warned: the world built
from it warns (world.depth_prior) and the preprocess command prints it. SfM that could not
run here (sfm.SfmUnavailable: pycolmap missing, the worker killed) falls back too, with
`sfm_unavailable` in the report: such a result is never cached (disk_cache).
Poses are expressed relative to the first frame and scaled so that the median depth is 1.

SfM climbs a ladder until enough frames register (sfm_ladder): the frames' long side with
sequential matching and several seeds, exhaustive matching for short clips, then 640 px
and the source's long side (at most 1024); a result at a higher long side is expressed at
the frames' (K and sparse uv scaled), and the dense depth runs at the usual resolution.
The focal length is searched by the COLMAP worker and kept off the prior only where the
clip pins it down. Pixels beyond the scene's range (sky, distant background) are flagged in
`far`, and the frames whose geometry is a guess are listed in the report (`guessed_frames`,
with `guessed_pose_frames` and `guessed_depth_frames`: lists of [first, last] ranges).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..geometry.camera import intrinsics_from_fov, scale_intrinsics
from ..io.video import (IMAGE_SUFFIXES, VideoError, crop_transform, fit_frame, list_images, probe_video,
                        read_image_folder, read_video)
from ..io.video import _frames as _video_frames, _open_video  # the same frame sampling as read_video
from .far import far_mask
from .mvs import MvsSettings, plane_sweep_depth
from .parallax import ParallaxReport, homography_rotations, measure_parallax
from .prior import ground_plane_prior
from .sfm import SfmError, SfmResult, SfmUnavailable, fill_poses, rescale_result, run_sfm

__all__ = ["PreprocessSettings", "Preprocessed", "preprocess_video", "PIPELINE_VERSION", "SfmRung", "sfm_ladder",
           "frame_ranges", "MIN_SOURCE_SIDE"]

#: Bumped whenever a change of this pipeline changes its output: part of every cache key.
PIPELINE_VERSION = 9


@dataclass(frozen=True)
class PreprocessSettings:
    """What the preprocessed world depends on (all of it goes into the cache key)."""

    long_side: int = 320  # frames are kept, and SfM runs, at this long side (pixels; never enlarged)
    depth_long_side: int = 160  # the plane sweep's long side (at most the frames')
    max_frames: int = 300  # longer videos are subsampled evenly to this many frames
    sfm_max_frames: int = 100  # frames given to SfM (evenly spaced); the rest are interpolated
    fov: float = 60.0  # horizontal field of view of the focal-length prior (degrees)
    min_parallax_px: float = 0.5  # below this (at long_side) the clip counts as rotation-only
    min_registered: float = 0.5  # fraction of SfM frames that must register
    seed: int = 0
    threads: int = 1  # COLMAP is deterministic with one thread (two: ~25% faster, poses vary run to run)
    focal_search: bool = True  # let SfM move the focal length off the fov prior where the clip pins it down

    def __post_init__(self) -> None:
        for name in ("long_side", "depth_long_side", "max_frames", "sfm_max_frames", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (16 if "side" in name else 1):
                raise ValueError(f"{name} must be an integer >= {16 if 'side' in name else 1}, got {v!r}")
        if not (_real(self.fov) and 10.0 <= self.fov <= 170.0):
            raise ValueError(f"fov must be a number of degrees in [10, 170], got {self.fov!r}")
        if not (_real(self.min_registered) and 0.0 < self.min_registered <= 1.0):
            raise ValueError(f"min_registered must be a number in (0, 1], got {self.min_registered!r}")
        if not (_real(self.min_parallax_px) and self.min_parallax_px >= 0):
            raise ValueError(f"min_parallax_px must be a number >= 0, got {self.min_parallax_px!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.focal_search, bool):
            raise ValueError(f"focal_search must be True or False, got {self.focal_search!r}")

    def key(self) -> str:
        blob = json.dumps({"version": PIPELINE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Preprocessed:
    """Geometry of one video at the preprocessing resolution, and how it was obtained."""

    frames: np.ndarray  # [T, h, w, 3] uint8 RGB
    depth: np.ndarray  # [T, h, w] float32, median 1
    K: np.ndarray  # [3, 3]
    c2w: np.ndarray  # [T, 4, 4] relative to frame 0
    fps: float
    report: dict[str, Any] = field(default_factory=dict)
    far: np.ndarray | None = None  # [T, h, w] bool: beyond the scene's range (sky): render at infinity


def _real(v: object) -> bool:
    """A finite real number (not a bool, not a string): what a numeric setting must be, so
    that a bad one is named rather than failing a comparison deep inside."""
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and bool(np.isfinite(v))


#: The least width and height (pixels) of a source worth preprocessing: SIFT finds nothing
#: in fewer, and a 1x1 video used to run COLMAP four times and blame SfM.
MIN_SOURCE_SIDE = 16


def _check_source_size(path: Path, w: int, h: int) -> None:
    if min(w, h) < MIN_SOURCE_SIDE:
        what = "image folder" if path.is_dir() else "video"
        raise VideoError(f"{what} {str(path)!r} is {w}x{h} pixels: preprocessing needs at least "
                         f"{MIN_SOURCE_SIDE}x{MIN_SOURCE_SIDE}")


def _size(w: int, h: int, long_side: int) -> tuple[int, int]:
    """(w, h) scaled to the given long side, never enlarged."""
    s = min(1.0, long_side / max(w, h))
    return max(2, round(w * s)), max(2, round(h * s))


def _read(path: Path, s: PreprocessSettings, pattern: str | None = None) -> tuple[np.ndarray, float, tuple[int, int], int]:
    """Frames at long_side (aspect kept), fps, source size and stride."""
    if path.is_dir():
        files = list_images(path, pattern)
        stride = max(1, math.ceil(len(files) / s.max_frames))
        if not files:
            what = f"matching {pattern!r}" if pattern else f"({', '.join(IMAGE_SUFFIXES)})"
            raise VideoError(f"no images {what} in folder {str(path)!r}")
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"cannot decode image {str(files[0])!r}")
        _check_source_size(path, first.shape[1], first.shape[0])
        w, h = _size(first.shape[1], first.shape[0], s.long_side)
        frames, src = read_image_folder(path, w, h, stride, s.max_frames, pattern)
        return frames, 30.0 / stride, src, stride
    sw, sh, n, _ = probe_video(path)
    _check_source_size(path, sw, sh)
    w, h = _size(sw, sh, s.long_side)
    stride = max(1, math.ceil(n / s.max_frames)) if n else 1
    frames, fps, src = read_video(path, w, h, stride, s.max_frames)
    return frames, fps, src, stride


def _read_selected(path: Path, s: PreprocessSettings, pattern: str | None, stride: int, ids: np.ndarray,
                   size: tuple[int, int]) -> np.ndarray:
    """Frames `ids` (indices into the frames _read kept) again, at size (w, h)."""
    w, h = size
    if path.is_dir():
        files = list_images(path, pattern)[::stride][: s.max_frames]
        imgs = [cv2.imread(str(files[i]), cv2.IMREAD_COLOR) for i in ids]
        if any(im is None for im in imgs):
            raise VideoError(f"cannot decode an image of folder {str(path)!r} again")
        return np.stack([fit_frame(im, w, h) for im in imgs])
    want, got = set(int(i) for i in ids), {}
    with _open_video(path) as cap:
        for i, f in enumerate(_video_frames(cap, stride, s.max_frames)):
            if i in want:
                got[i] = fit_frame(f, w, h)
    if len(got) != len(want):
        raise VideoError(f"video {str(path)!r} gave {len(got)} of the {len(want)} frames on a second read")
    return np.stack([got[int(i)] for i in ids])


def _pixel_map(src: tuple[int, int], hi: tuple[int, int], lo: tuple[int, int]) -> tuple[float, float, float, float]:
    """(sx, sy, ox, oy) taking pixels of frames fitted at size `hi` to those fitted at `lo`
    (both centre crops of the source, as fit_frame makes them): u_lo = (u_hi + 0.5) sx - 0.5 + ox."""
    xh, yh, cwh, chh, _ = crop_transform(*src, *hi)
    xl, yl, cwl, chl, _ = crop_transform(*src, *lo)
    kx, ky = lo[0] / cwl, lo[1] / chl
    return cwh / hi[0] * kx, chh / hi[1] * ky, (xh - xl) * kx, (yh - yl) * ky


def _normalise(c2w: np.ndarray, depth_scale: float) -> np.ndarray:
    """Poses relative to frame 0 with translations divided by depth_scale."""
    out = np.linalg.inv(c2w[0]) @ c2w
    out[:, :3, 3] /= depth_scale
    out[0] = np.eye(4)
    return out


def _sparse_depths(sfm, c2w_reg: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, uv, z) of every observation of a sparse point, z in the frame's camera."""
    frames = sorted(c2w_reg)
    w2c = np.linalg.inv(np.stack([c2w_reg[f] for f in frames]))  # one inverse per frame
    row = np.searchsorted(frames, sfm.obs_frame)
    X = sfm.points[sfm.obs_point]
    z = np.einsum("nj,nj->n", w2c[row, 2, :3], X) + w2c[row, 2, 3]
    return sfm.obs_frame, sfm.obs_uv, z


def frame_ranges(frames) -> list[list[int]]:
    """Sorted frame indices as inclusive [first, last] runs: [0, 1, 2, 5] -> [[0, 2], [5, 5]]."""
    idx = sorted({int(i) for i in frames})
    out: list[list[int]] = []
    for i in idx:
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _mark_guesses(report: dict, pose: np.ndarray, depth: np.ndarray) -> None:
    """The report's guessed_* keys from per-frame masks of guessed pose and guessed depth."""
    report.update(guessed_pose_frames=frame_ranges(np.flatnonzero(pose)),
                  guessed_depth_frames=frame_ranges(np.flatnonzero(depth)),
                  guessed_frames=frame_ranges(np.flatnonzero(pose | depth)))


def _fallback(frames: np.ndarray, K: np.ndarray, par: ParallaxReport | None, reason: str,
              report: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ground-plane prior with homography rotations (or a static camera), and why, in the
    report: rotations only where the homographies are trusted (held elsewhere, and named);
    the prior's sphere (sky, backdrop) is far. Returns depth, c2w and far."""
    T, h, w = frames.shape[:3]
    held = np.zeros(T, bool)
    if par is None:
        c2w = np.repeat(np.eye(4)[None], T, 0)
    else:
        track = homography_rotations(par.homographies, K, par.inliers)
        c2w, held = track.c2w, track.held
        report["rotation_held_reasons"] = track.reasons
    prior = [ground_plane_prior(h, w, K, c) for c in c2w]
    depth = np.stack([d for d, _ in prior])
    far = np.stack([f for _, f in prior])
    report.update(fallback="ground_plane_prior", fallback_reason=reason,
                  poses="homography_rotations" if par is not None else "static",
                  rotation_held_frames=frame_ranges(np.flatnonzero(held)))
    _mark_guesses(report, held, np.ones(T, bool))
    return depth, c2w, far


def preprocess_video(path: str | Path, settings: PreprocessSettings = PreprocessSettings(),
                     progress: bool = True, pattern: str | None = None) -> Preprocessed:
    """Geometry of a video file or image folder (see the module docstring); pattern selects
    a folder's images (glob)."""
    if not isinstance(settings, PreprocessSettings):
        raise TypeError(f"settings must be a PreprocessSettings (e.g. PreprocessSettings(long_side=480)), got "
                        f"{type(settings).__name__}: {settings!r}")
    s = settings
    path = Path(path)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=4, desc=f"preprocess {path.name}", disable=not progress, unit="stage")

    def stage(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 3)
        bar.update(1)

    t0 = time.perf_counter()
    frames, fps, src, stride = _read(path, s, pattern)
    T, h, w, _ = frames.shape
    stage("read", t0)
    K = intrinsics_from_fov(w, h, s.fov)
    report: dict[str, Any] = {"video": str(path), "source_size": list(src), "size": [w, h], "frames": T,
                              "stride": stride, "fps": fps, "fallback": None, "focal_prior_px": round(float(K[0, 0]), 3)}
    t0 = time.perf_counter()
    par = measure_parallax(frames)
    report.update(motion_px=round(par.motion_px, 3), parallax_px=round(par.parallax_px, 3), tracked=par.tracked,
                  parallax_known=par.known)
    stage("parallax", t0)
    if T < 2:
        depth, c2w, far = _fallback(frames, K, None, "a one-frame video", report)
    elif par.static:
        depth, c2w, far = _fallback(frames, K, None, f"static camera: corners moved {par.motion_px:.2f} px", report)
    elif not par.enough(s.min_parallax_px):
        depth, c2w, far = _fallback(frames, K, par, f"rotation only: {par.parallax_px:.2f} px of parallax < "
                                    f"{s.min_parallax_px}", report)
    else:
        load = lambda ids, size: _read_selected(path, s, pattern, stride, ids, size)  # noqa: E731
        depth, c2w, far, K = _reconstruct(frames, K, par, s, report, progress, stage, (src, load))
    if report["fallback"] is not None:
        c2w = _normalise(c2w, 1.0)
        depth = (depth / np.median(depth[depth > 0])).astype(np.float32)
    report["far_fraction"] = round(float(far.mean()), 4)
    bar.close()
    report["seconds"] = round(time.perf_counter() - t_start, 3)
    report["timings"] = timings
    report["settings"] = asdict(s)
    return Preprocessed(frames=frames, depth=depth, K=K, c2w=c2w, fps=fps, report=report, far=far)


def _reconstruct(frames: np.ndarray, K: np.ndarray, par: ParallaxReport, s: PreprocessSettings, report: dict,
                 progress: bool, stage, source) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SfM (the ladder) then the plane sweep, or the fallback when SfM fails: depth, c2w, far, K."""
    T, h, w, _ = frames.shape
    src, load = source
    t0 = time.perf_counter()
    ids = np.unique(np.linspace(0, T - 1, min(T, s.sfm_max_frames)).round().astype(int))
    try:
        sfm = _sfm_with_retries(frames[ids], s, report, lambda size: load(ids, size), src)
    except SfmUnavailable as e:  # nothing learnt about the video: fall back for this run only
        stage("sfm", t0)
        report["sfm_error"] = report["sfm_unavailable"] = str(e)
        depth, c2w, far = _fallback(frames, K, par, f"SfM could not run here: {e}", report)
        return depth, c2w, far, K
    except SfmError as e:
        stage("sfm", t0)
        report["sfm_error"] = str(e)
        depth, c2w, far = _fallback(frames, K, par, f"SfM failed: {e}", report)
        return depth, c2w, far, K
    stage("sfm", t0)
    reg = ids[sfm.frame_ids]
    c2w_reg = {int(f): c for f, c in zip(sfm.frame_ids, sfm.c2w)}
    of, uv, z = _sparse_depths(sfm, c2w_reg)
    z_pos = z[z > 0]
    scale = float(np.median(z_pos)) if len(z_pos) else 1.0
    c2w = _normalise(fill_poses(reg, sfm.c2w, T), scale)
    z = z / scale
    t0 = time.perf_counter()
    zrange = np.percentile(z_pos / scale, [5, 95]) if len(z_pos) else (0.2, 5.0)
    depth, kept, far_plane = _dense(frames, sfm.K, c2w, zrange, s, progress, (ids[of], uv, z))
    report.update(depth_kept=round(float(kept.mean()), 4), **_anchor_agreement(depth, kept, ids[of], uv, z))
    far = far_mask(frames, depth, kept, sfm.K, c2w, far_plane, (ids[of], uv),
                   window=_odd(MvsSettings().window * w / _size(w, h, min(s.depth_long_side, max(w, h)))[0]))
    stage("depth", t0)
    _mark_guesses(report, _unmeasured_poses(ids, reg, T), kept.reshape(T, -1).mean(1) < MIN_KEPT)
    return depth, c2w, far, sfm.K


#: A frame whose plane sweep measured less than this fraction of its pixels has a guessed
#: (filled) depth.
MIN_KEPT = 0.05


def _odd(x: float) -> int:
    return max(3, int(round(x)) // 2 * 2 + 1)


def _unmeasured_poses(ids: np.ndarray, registered: np.ndarray, T: int) -> np.ndarray:
    """[T] bool: frames whose pose no registered SfM frame pins down: an SfM frame that did
    not register, and the frames between it and its SfM neighbours (interpolated across the gap
    or held past the ends)."""
    ok = np.isin(ids, registered)
    t = np.arange(T)
    before = np.clip(np.searchsorted(ids, t, side="right") - 1, 0, len(ids) - 1)
    after = np.clip(np.searchsorted(ids, t, side="left"), 0, len(ids) - 1)
    return ~(ok[before] & ok[after])


#: (seed offset, initial-pair angle in degrees) tried in turn until enough frames register.
#: COLMAP on short hand-held clips is chaotic: on 7-Scenes, seeds 0 / 1 / 2 registered
#: 17 / 7 / 50 of 50 frames, and the focal prior changed by 0.001 px moved it from 17 to 50.
SFM_ATTEMPTS = ((0, 16.0), (1, 16.0), (2, 8.0), (3, 8.0))


#: Long sides SfM climbs to when too few frames register at the frames' own: 640, then the
#: source's capped at SFM_MAX_LONG_SIDE (never above the source's). An outdoor walk
#: registered ~10% of its frames at 320 px and all of them at 640.
SFM_LONG_SIDE = 640
SFM_MAX_LONG_SIDE = 1024
#: Clips of at most this many SfM frames also try exhaustive matching (every pair).
EXHAUSTIVE_MAX_FRAMES = 60
#: A reconstruction with fewer sparse points per registered frame is no registration (a
#: street orbit at 160 px "registered" 15 of 24 frames with 36 points, 7 degrees off).
MIN_POINTS_PER_FRAME = 8
#: A reconstruction whose sparse points' 95th-percentile depth exceeds their median by more
#: than this has collapsed (points thrown towards infinity, a zig-zag camera path): an orbit
#: rendered at 63 deg registered every frame with a spread of 1485x, 3.2 deg of rotation
#: error, and its plane sweep put 90% of the pixels at the far plane, silently. Sound clips
#: spread 1.2-1.5x (procedural orbits and dollies, 7-Scenes); a street with distant facades
#: stays far below this.
MAX_DEPTH_SPREAD = 100.0


@dataclass(frozen=True)
class SfmRung:
    """One step of the SfM ladder: a long side, a matcher and the (seed offset, initial-pair
    angle) attempts made there."""

    long_side: int
    matcher: str
    attempts: tuple[tuple[int, float], ...]


def _higher_sides(long_side: int, source_long: int) -> list[int]:
    """The long sides above the frames', in order: 640, then the source's (capped)."""
    out: list[int] = []
    for side in (SFM_LONG_SIDE, SFM_MAX_LONG_SIDE):
        side = min(side, source_long)
        if side > max([long_side, *out]):
            out.append(side)
    return out


def sfm_ladder(num_frames: int, long_side: int, source_long: int | None) -> list[SfmRung]:
    """The SfM attempts in order: every seed at the frames' long side, then (short clips)
    exhaustive matching, then each higher long side with two seeds (and, short clips, one
    exhaustive attempt). source_long None: no higher long side (the source cannot be read again)."""
    short = num_frames <= EXHAUSTIVE_MAX_FRAMES
    rungs = [SfmRung(long_side, "sequential", SFM_ATTEMPTS)]
    if short:
        rungs.append(SfmRung(long_side, "exhaustive", SFM_ATTEMPTS[:2]))
    for side in _higher_sides(long_side, source_long or 0):
        rungs.append(SfmRung(side, "sequential", SFM_ATTEMPTS[::2]))
        if short:
            rungs.append(SfmRung(side, "exhaustive", SFM_ATTEMPTS[:1]))
    return rungs


def _attempt(frames: np.ndarray, s: PreprocessSettings, rung: SfmRung, offset: int, angle: float,
             ) -> tuple[SfmResult | None, dict]:
    """One SfM run and its record for the report."""
    rec: dict[str, Any] = {"long_side": rung.long_side, "matcher": rung.matcher, "seed": s.seed + offset,
                           "init_angle": angle}
    try:
        r = run_sfm(frames, fov=s.fov, threads=s.threads, seed=s.seed + offset, init_angle=angle, matcher=rung.matcher,
                    focal_search=s.focal_search)
    except SfmUnavailable as e:
        return None, {**rec, "error": str(e), "unavailable": True}
    except SfmError as e:
        return None, {**rec, "error": str(e)}
    rec.update(registered=len(r.frame_ids), reproj_error_px=round(r.reproj_error, 4), seconds=round(r.seconds, 2),
               focal_px=round(float(r.K[0, 0]), 3), sparse_points=len(r.points))
    if len(r.points) < MIN_POINTS_PER_FRAME * len(r.frame_ids):
        return None, {**rec, "error": f"too sparse: {len(r.points)} points for {len(r.frame_ids)} frames"}
    spread = depth_spread(r)
    rec["depth_spread"] = round(spread, 2)
    if not spread <= MAX_DEPTH_SPREAD:
        return None, {**rec, "error": f"collapsed: the sparse points' 95th-percentile depth is {spread:.0f}x their "
                                      f"median (at most {MAX_DEPTH_SPREAD:.0f}x in a sound reconstruction)"}
    return r, rec


def depth_spread(sfm: SfmResult) -> float:
    """The sparse points' 95th-percentile depth over their median, over every observation in
    its frame's camera (inf when no point lies in front of a camera): MAX_DEPTH_SPREAD."""
    _, _, z = _sparse_depths(sfm, {int(f): c for f, c in zip(sfm.frame_ids, sfm.c2w)})
    z = z[z > 0]
    if len(z) == 0:
        return float("inf")
    return float(np.percentile(z, 95) / np.median(z))


def _rung_results(rung: SfmRung, frames: np.ndarray, s: PreprocessSettings, load, source_size):
    """(result at the frames' size or None, record) of each attempt of one rung, in order."""
    fh, fw = frames.shape[1:3]
    at, size = frames, (fw, fh)
    if rung.long_side != max(fw, fh):
        size = _size(*source_size, rung.long_side)
        try:
            at = load(size)
        except VideoError as e:
            yield None, {"long_side": rung.long_side, "matcher": rung.matcher, "error": str(e)}
            return
    for offset, angle in rung.attempts:
        r, rec = _attempt(at, s, rung, offset, angle)
        yield (r if r is None or size == (fw, fh) else rescale_result(r, *_pixel_map(source_size, size, (fw, fh)))), rec


def _sfm_with_retries(frames: np.ndarray, s: PreprocessSettings, report: dict, load=None,
                      source_size: tuple[int, int] | None = None) -> SfmResult:
    """The first attempt of the ladder (sfm_ladder) that registers enough frames, else the best
    (most registered) one, else SfmError; every attempt is recorded in the report. load(size)
    gives the frames again at size (w, h) for the higher long sides; a result from one is
    expressed at the frames' size. An attempt that could not run (SfmUnavailable: pycolmap
    missing, the worker killed) ends the ladder with that error: what the ladder would have
    chosen is unknown, so nothing it found may stand for the video."""
    n, fh, fw = frames.shape[:3]
    need = s.min_registered * n
    source_long = max(source_size) if (load is not None and source_size) else None
    best, best_rung, attempts = None, None, []
    for rung in sfm_ladder(n, max(fw, fh), source_long):
        for r, rec in _rung_results(rung, frames, s, load, source_size):
            attempts.append(rec)
            if rec.get("unavailable"):  # the ladder's outcome must not depend on a killed attempt
                report["sfm_attempts"] = attempts
                raise SfmUnavailable(rec["error"])
            if r is not None and (best is None or len(r.frame_ids) > len(best.frame_ids)):
                best, best_rung = r, rung
            if best is not None and len(best.frame_ids) >= need:
                break
        if best is not None and len(best.frame_ids) >= need:
            break
    report["sfm_attempts"] = attempts
    if best is None:
        raise SfmError("; ".join(a["error"] for a in attempts))
    report.update(sfm_frames=n, registered=len(best.frame_ids), reproj_error_px=round(best.reproj_error, 4),
                  focal_px=round(float(best.K[0, 0]), 3), focal_refined=best.focal_refined,
                  focal_search=best.focal_search, sparse_points=len(best.points), sfm_long_side=best_rung.long_side,
                  sfm_matcher=best_rung.matcher)
    if len(best.frame_ids) < need:
        raise SfmError(f"only {len(best.frame_ids)} of {n} frames registered")
    return best


def _dense(frames: np.ndarray, K: np.ndarray, c2w: np.ndarray, zrange, s: PreprocessSettings, progress: bool,
           anchors: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Plane-sweep depth at depth_long_side over the sparse points' depth range, at the frames'
    size: depth, the measured mask and the farthest plane."""
    T, h, w, _ = frames.shape
    dw, dh = _size(w, h, min(s.depth_long_side, max(w, h)))
    small = np.stack([cv2.resize(f, (dw, dh), interpolation=cv2.INTER_AREA) for f in frames])
    sx, sy = dw / w, dh / h
    Ks = scale_intrinsics(K, sx, sy)
    # zrange: 5th / 95th percentiles of the sparse depths (forward motion triangulates a few
    # points absurdly near the camera: the 1st percentile of a dolly clip was 0.02 x the
    # median). Generous margins, as planes are uniform in inverse depth: a range that misses a
    # surface ruins it (that clip: delta 0.50 with 2nd / 98th and 0.6x / 1.6x, 0.90 with these)
    near, far = float(zrange[0]) * 0.5, float(zrange[1]) * 3.0
    with tqdm(total=T, desc="depth (plane sweep)", disable=not progress, unit="frame", leave=False) as pb:
        f, uv, z = anchors
        uv_small = np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], 1)
        depth, kept = plane_sweep_depth(small, Ks, c2w, (near, far), MvsSettings(), progress=pb.update,
                                        anchors=(f, uv_small, z))
    big = np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in depth]).astype(np.float32)
    kept_big = np.stack([cv2.resize(k.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for k in kept]) > 0
    return big, kept_big, far


def _anchor_agreement(depth: np.ndarray, kept: np.ndarray, obs_frame: np.ndarray, obs_uv: np.ndarray,
                      obs_z: np.ndarray) -> dict:
    """How the measured dense depth agrees with the sparse SfM points, at pixels the sweep
    measured (sparse points that fell in holes seeded the fill there, so they are not scored)."""
    T, h, w = depth.shape
    u = np.clip(np.round(obs_uv[:, 0]).astype(int), 0, w - 1)
    v = np.clip(np.round(obs_uv[:, 1]).astype(int), 0, h - 1)
    ok = (obs_z > 0) & kept[obs_frame, v, u]
    ratio = depth[obs_frame[ok], v[ok], u[ok]] / obs_z[ok]
    if not len(ratio):
        return {}
    return {"anchor_median_ratio": round(float(np.median(ratio)), 4),
            "anchor_within_10pct": round(float(np.mean(np.abs(ratio - 1) < 0.1)), 4)}
