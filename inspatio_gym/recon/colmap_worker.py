"""COLMAP structure from motion in its own process (run as a script, never imported).

pycolmap bundles its own libpng/zlib, which clash with OpenCV's in one process (a PNG
write aborts), and COLMAP aborts the process on some internal errors. So the parent
writes the frames, runs this file with the interpreter, and reads back one .npz of plain
arrays: a crash here is a failed reconstruction, not a dead environment.

Pipeline: SIFT on the CPU with one shared SIMPLE_PINHOLE camera, sequential (or, for short
clips, exhaustive) matching, then the focal search on a subset of the frames (_focal_and_start:
the focal length moves off the prior only where the clip pins it down), and incremental
mapping of the whole clip grown from the subset's reconstruction, with the focal length held
(hand-held clips have too little parallax to find it while the map grows).
Global bundle adjustments while the map grows run when it has grown by 40% (COLMAP's 10%
spent two thirds of a 100-frame clip's time in them, with no gain in pose accuracy).

The worker dies with its parent (_watch_parent): on Linux the kernel signals it when the
parent dies (PR_SET_PDEATHSIG); everywhere, EOF on its stdin (a pipe only the parent holds)
or a new parent pid says the same. It then exits, and a forked child removes its temp folder
(--cleanup, which also holds COLMAP's glog files) once no thread of the worker can write
there. A failure of its environment rather than of the frames (pycolmap missing, out of
memory or disk) exits with EXIT_UNAVAILABLE.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np


#: Exit code for a failure of the environment, not of the frames (sysexits' EX_TEMPFAIL;
#: recon.sfm.EXIT_UNAVAILABLE): the parent must not cache the outcome as the video's.
EXIT_UNAVAILABLE = 75
#: Exit code of a worker stopped by a signal or by its parent's death (recon.sfm.EXIT_STOPPED).
EXIT_STOPPED = 76
#: How often (s) the watcher checks the parent pid, where no signal or EOF tells it.
PARENT_POLL_S = 0.5
#: Signals that end the worker through _watch_parent (so the temp folder goes with it).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

#: Matchers the worker runs (--matcher).
MATCHERS = ("sequential", "exhaustive")
#: Global BA when the map grew by this factor (COLMAP: 1.1), and its iteration caps: on a
#: 100-frame orbit mapping took 67 s with COLMAP's defaults and 21 s with these, with the
#: same registration and no worse rotations.
GLOBAL_BA_RATIO = 1.4
GLOBAL_BA_ITERATIONS = 20
LOCAL_BA_ITERATIONS = 15


def _options(pycolmap, threads: int, seed: int, max_features: int, overlap: int, init_angle: float, min_inliers: int):
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "SIMPLE_PINHOLE"
    extract = pycolmap.FeatureExtractionOptions()
    extract.num_threads = threads
    extract.sift.max_num_features = max_features
    match = pycolmap.FeatureMatchingOptions()
    match.num_threads = threads
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = overlap
    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.num_threads = threads
    mapping.random_seed = seed
    mapping.mapper.random_seed = seed
    mapping.triangulation.random_seed = seed
    mapping.multiple_models = False
    mapping.extract_colors = False
    mapping.min_model_size = 3
    mapping.ba_refine_focal_length = False
    mapping.mapper.abs_pose_refine_focal_length = False
    mapping.mapper.init_min_tri_angle = init_angle
    mapping.mapper.abs_pose_min_num_inliers = min_inliers
    mapping.ba_global_frames_ratio = mapping.ba_global_points_ratio = GLOBAL_BA_RATIO
    mapping.ba_global_max_num_iterations = GLOBAL_BA_ITERATIONS
    mapping.ba_global_max_refinements = 1
    mapping.ba_local_max_num_iterations = LOCAL_BA_ITERATIONS
    return reader, extract, match, pairing, mapping


#: The focal search (_focal_and_start, _estimate_focal) maps a subset of at most FOCAL_SUBSET
#: frames (_subset) at the prior, then scores fixed focal lengths (the prior and FOCAL_STEP either side,
#: extended a step at a time while the best is at an end, within FOCAL_RANGE) by the robust
#: reprojection error after a bundle adjustment and fits a parabola in log focal around the
#: best: its minimum is the estimate. It is kept only when the profile is curved (FOCAL_FLANK
#: away from its minimum the error rises by FOCAL_MIN_RISE: a dolly's is flat), a bundle
#: adjustment refining the focal from there stays within half a step of it (a check only: its
#: non-robust cost wanders inside the step) and the robust error does not rise; otherwise the
#: prior stays. A single BA refining the focal from the prior is not enough: on an orbit whose
#: focal was 8% longer it stopped 1% from the prior.
FOCAL_SUBSET = 40
#: A subset reconstruction smaller than this says nothing about the focal length (a street
#: orbit at 160 px registered 7 frames with 7 points and preferred a focal 32% off) and is not
#: grown into the clip's map (_sound).
FOCAL_MIN_FRAMES = 8
FOCAL_MIN_POINTS = 200
FOCAL_STEP = 0.08  # the scan's spacing (relative), also its extension step
FOCAL_SECOND_ROUND = 0.02  # a focal moved by more than this is searched again (_focal_and_start)
FOCAL_RANGE = (0.6, 1.7)  # searched focal / prior
FOCAL_FLANK = 0.08
FOCAL_MIN_RISE = 0.003
SCAN_ITERATIONS = 40
#: Track errors above this (pixels) count as this in the robust error: one diverged point
#: must not decide (a bundle adjustment from a poor start left a few at 1e150 px).
ERROR_CAP_PX = 4.0
#: Feature extraction threads: deterministic at any count once the images are imported first
#: (their ids no longer depend on which thread finished first), unlike matching and mapping.
EXTRACT_THREADS = 2


def _robust_error(rec) -> float:
    """Mean track reprojection error with each track's error capped at ERROR_CAP_PX."""
    rec.update_point_3d_errors()
    e = np.array([p.error for p in rec.points3D.values()], dtype=np.float64)
    e = np.where(np.isfinite(e), np.minimum(e, ERROR_CAP_PX), ERROR_CAP_PX)
    return float(e.mean()) if len(e) else float("inf")


def _adjusted(pycolmap, rec, focal: float, refine: bool, iterations: int):
    """A copy of rec after a bundle adjustment from the focal length `focal`, held or refined."""
    out = rec.__class__(rec)
    cam = next(iter(out.cameras.values()))
    params = np.array(cam.params, dtype=np.float64)
    params[0] = focal
    cam.params = params
    ba = pycolmap.BundleAdjustmentOptions()
    ba.refine_focal_length = refine
    ba.refine_principal_point = False
    ba.print_summary = False
    ba.ceres.solver_options.max_num_iterations = iterations
    pycolmap.bundle_adjustment(out, ba)
    return out


def _focal_of(rec) -> float:
    return float(next(iter(rec.cameras.values())).params[0])


def _scan(pycolmap, rec, prior: float, step: float = FOCAL_STEP) -> dict[float, float]:
    """Robust error per focal factor: 1 and a step either side, extended a step at a time past
    whichever end is best, within FOCAL_RANGE."""
    def error(k: float) -> float:
        return _robust_error(_adjusted(pycolmap, rec, prior * k, False, SCAN_ITERATIONS))

    errors = {k: error(k) for k in (1 - step, 1.0, 1 + step)}
    while True:
        ks = sorted(errors)
        best = min(ks, key=errors.get)
        if best == ks[0] and ks[0] / (1 + step) >= FOCAL_RANGE[0]:
            k = ks[0] / (1 + step)
        elif best == ks[-1] and ks[-1] * (1 + step) <= FOCAL_RANGE[1]:
            k = ks[-1] * (1 + step)
        else:
            return errors
        errors[k] = error(k)


def _parabola(errors: dict[float, float]) -> tuple[float, float] | None:
    """(factor at the minimum, relative rise FOCAL_FLANK away) of the parabola in log focal
    through the best scanned factor and its neighbours; None when the best is at an end or
    the three points do not curve upwards."""
    ks = sorted(errors)
    i = min(range(len(ks)), key=lambda j: errors[ks[j]])
    if i in (0, len(ks) - 1):
        return None
    x = np.log(ks[i - 1:i + 2])
    a, b, c = np.polyfit(x, [errors[k] for k in ks[i - 1:i + 2]], 2)
    if not a > 0:
        return None
    x0 = float(np.clip(-b / (2 * a), x[0], x[2]))
    e0 = a * x0 * x0 + b * x0 + c
    return float(np.exp(x0)), float(a * np.log1p(FOCAL_FLANK) ** 2 / max(e0, 1e-12))


def _subset(names: list[str], count: int) -> list[str]:
    """At most `count` frames, every 2^k-th: sequential matching pairs frames up to `overlap`
    apart and at powers of two, so the wide pairs an initial pair needs stay in the subset
    (30 evenly spaced of 100 kept none: no initial pair was found)."""
    step = 1
    while len(names[::step]) > count:
        step *= 2
    return names[::step]


def _map(pycolmap, db: Path, images: Path, work: Path, mapping, names: list[str] | None = None, start=None):
    """The reconstruction with most registered frames (of `names` only, when given; grown from
    the reconstruction `start`, when given), or None."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()  # not parents=True: a removed temp folder must stay removed (_watch_parent)
    if names is not None:
        mapping.image_names = names
    seed_dir = ""
    if start is not None:
        seed_dir = work.with_name(work.name + ".start")
        shutil.rmtree(seed_dir, ignore_errors=True)
        seed_dir.mkdir()
        start.write(seed_dir)
    recs = pycolmap.incremental_mapping(db, images, work, mapping, input_path=seed_dir)
    return max(recs.values(), key=lambda r: r.num_reg_images()) if recs else None


def _sound(rec) -> bool:
    """A reconstruction large enough to learn the focal length from and to grow a map from (a
    street orbit's subset of 7 frames and 7 points, grown, registered 15 of 24 frames 8 deg off)."""
    return rec is not None and rec.num_reg_images() >= FOCAL_MIN_FRAMES and rec.num_points3D() >= FOCAL_MIN_POINTS


def _focal_and_start(pycolmap, db: Path, images: Path, work: Path, names: list[str], focal: float,
                     options) -> tuple[dict, object]:
    """The focal search (see FOCAL_SUBSET) and the subset's reconstruction at the focal found,
    which the whole clip's mapping grows from (its initial pair is already found). A focal that
    moved by more than FOCAL_SECOND_ROUND is searched again from the subset mapped at it: the first map was
    built at the prior, which biases its profile (an orbit 14% off stopped 4% off). Where that round
    agrees (its profile is flat, or no focal beats the first estimate on its map: 4 of scene 101's 8
    orbits 4-17% off) the first estimate stands; where it contradicts it (the subset no longer maps at it,
    its profile's minimum lies outside the range, its polish leaves its minimum) the prior stays:
    an estimate its own map does not bear out is a guess (it used to be kept)."""
    sub = _subset(names, FOCAL_SUBSET)
    model = _map(pycolmap, db, images, work / "focal", options(), sub)
    if not _sound(model):  # nothing to learn the focal from, nor to grow the clip's map from
        return {"accepted": False, "reason": "the subset did not reconstruct", "prior_px": focal, "focal_px": focal,
                "frames": 0 if model is None else model.num_reg_images()}, None
    at_prior = model
    search, model = _estimate_focal(pycolmap, model, focal)
    if search["accepted"] and abs(search["focal_px"] / focal - 1) > FOCAL_SECOND_ROUND:
        _set_focal(pycolmap, db, search["focal_px"])
        again = _map(pycolmap, db, images, work / "focal2", options(), sub)
        second = {"accepted": False, "reason": "the subset did not reconstruct"}
        if _sound(again):
            second, again = _estimate_focal(pycolmap, again, search["focal_px"])
        search["second_round"] = second
        if second["accepted"]:
            search["focal_px"] = second["focal_px"]
            model = again
        elif second.get("consistent"):  # the second map, made at the estimate, is the start
            search["reason"] += f" (the second round kept it: {second['reason']})"
            model = again
        else:
            _set_focal(pycolmap, db, focal)
            search.update(accepted=False, focal_px=focal, reason=f"not confirmed from the subset mapped at "
                          f"{search['focal_px']:.1f} px ({second['reason']}): the prior stays")
            model = at_prior
    return search, model


def _estimate_focal(pycolmap, rec, prior: float, step: float = FOCAL_STEP) -> tuple[dict, object]:
    """The focal search on a reconstruction made at the prior (see FOCAL_SUBSET): its record,
    with focal_px set (the prior when the data do not pin the focal down), and the
    reconstruction at that focal."""
    info: dict = {"prior_px": prior, "focal_px": prior, "accepted": False, "frames": rec.num_reg_images(),
                  "points": rec.num_points3D(), "observations": rec.compute_num_observations(),
                  "error_prior_px": _robust_error(rec)}
    errors = _scan(pycolmap, rec, prior, step)
    info["scan"] = [[round(k * prior, 3), e] for k, e in sorted(errors.items())]
    fit = _parabola(errors)
    if fit is None:
        info["reason"] = "the error has no minimum inside the searched focal range"
        return info, rec
    k, rise = fit
    info.update(parabola_px=k * prior, rise=rise)
    if rise < FOCAL_MIN_RISE:
        info.update(consistent=True, reason=f"flat error profile (rise {rise:.4f} at +-{FOCAL_FLANK:.0%}): focal not "
                    "constrained")
        return info, rec
    polished = _adjusted(pycolmap, rec, k * prior, True, SCAN_ITERATIONS)
    f = _focal_of(polished)
    info.update(polished_px=f)
    if not (np.isfinite(f) and abs(f / (k * prior) - 1) <= FOCAL_STEP / 2):
        info["reason"] = "refining the focal length left the scan's minimum: the profile is not trusted"
        return info, rec
    # the polish only checks the profile: where it lands inside the step it still wanders with
    # the non-robust BA cost (an orbit 4% off: parabola -0.6%, polish -1.6%), so the parabola's
    # minimum is the estimate
    at = _adjusted(pycolmap, rec, k * prior, False, SCAN_ITERATIONS)
    err = _robust_error(at)
    info["error_px"] = err
    if not err <= info["error_prior_px"]:
        info.update(consistent=True, reason="the focal search did not lower the reprojection error")
        return info, rec
    info.update(accepted=True, focal_px=k * prior, reason="a curved error minimum")
    return info, at


def _set_focal(pycolmap, db: Path, focal: float) -> None:
    """The shared camera's focal length in the database (the mapper starts from it)."""
    database = pycolmap.Database.open(db)
    try:
        for cam in database.read_all_cameras():
            params = np.array(cam.params, dtype=np.float64)
            params[0] = focal
            cam.params = params
            database.update_camera(cam)
    finally:
        database.close()


def _match(pycolmap, db: Path, matcher: str, match, pairing) -> None:
    if matcher == "exhaustive":
        pycolmap.match_exhaustive(db, matching_options=match, device=pycolmap.Device.cpu)
    else:
        pycolmap.match_sequential(db, matching_options=match, pairing_options=pairing, device=pycolmap.Device.cpu)


def run(images: Path, out: Path, focal: float, width: int, height: int, threads: int, seed: int, max_features: int,
        overlap: int, init_angle: float = 16.0, min_inliers: int = 30, matcher: str = "sequential",
        focal_search: bool = True) -> None:
    import pycolmap

    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {MATCHERS}, got {matcher!r}")
    work = out.parent / (out.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()  # not parents=True: a removed temp folder must stay removed (_watch_parent)
    db = work / "database.db"
    reader, extract, match, pairing, mapping = _options(pycolmap, threads, seed, max_features, overlap, init_angle,
                                                        min_inliers)
    names = sorted(p.name for p in images.iterdir())
    reader.camera_params = f"{focal},{width / 2},{height / 2}"
    pycolmap.Database.open(db).close()  # import_images wants the database to exist
    pycolmap.import_images(db, images, camera_mode=pycolmap.CameraMode.SINGLE, options=reader)
    extract.num_threads = max(threads, EXTRACT_THREADS)
    pycolmap.extract_features(db, images, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=extract, device=pycolmap.Device.cpu)
    _match(pycolmap, db, matcher, match, pairing)
    search: dict = {"accepted": False, "reason": "not searched", "prior_px": focal, "focal_px": focal}
    start = None
    if focal_search:
        options = lambda: _options(pycolmap, threads, seed, max_features, overlap, init_angle, min_inliers)[-1]  # noqa: E731
        search, start = _focal_and_start(pycolmap, db, images, work, names, focal, options)
        _set_focal(pycolmap, db, search["focal_px"])
    rec = _map(pycolmap, db, images, work / "map", mapping, start=start)
    if rec is None and start is not None:
        rec = _map(pycolmap, db, images, work / "map", _options(pycolmap, threads, seed, max_features, overlap,
                                                               init_angle, min_inliers)[-1])
    if rec is None:
        np.savez(out, ok=np.array(False), reason=np.array("no initial image pair could be reconstructed"))
        return
    cam = next(iter(rec.cameras.values()))
    index = {n: i for i, n in enumerate(names)}
    frame_ids, c2w, obs_img, obs_uv, obs_pid = [], [], [], [], []
    for im in sorted(rec.images.values(), key=lambda im: index[im.name]):
        m = np.eye(4)
        m[:3] = im.cam_from_world().matrix()
        frame_ids.append(index[im.name])
        c2w.append(np.linalg.inv(m))
        for p in im.points2D:
            if p.has_point3D():
                obs_img.append(index[im.name])
                obs_uv.append(p.xy)
                obs_pid.append(p.point3D_id)
    pids = sorted(rec.points3D)
    pos = {p: i for i, p in enumerate(pids)}
    xyz = np.array([rec.points3D[p].xyz for p in pids], dtype=np.float64).reshape(-1, 3)
    np.savez(
        out,
        ok=np.array(True),
        names=np.array(names),
        frame_ids=np.array(frame_ids, dtype=np.int64),
        c2w=np.array(c2w, dtype=np.float64).reshape(-1, 4, 4),
        params=np.array(cam.params, dtype=np.float64),
        size=np.array([cam.width, cam.height]),
        points=xyz,
        obs_frame=np.array(obs_img, dtype=np.int64),
        obs_uv=np.array(obs_uv, dtype=np.float64).reshape(-1, 2),
        obs_point=np.array([pos[p] for p in obs_pid], dtype=np.int64),
        reproj_error=np.array(rec.compute_mean_reprojection_error()),
        focal_refined=np.array(bool(search["focal_px"] != focal)),
        focal_search=np.array(json.dumps(search)),
    )
    shutil.rmtree(work, ignore_errors=True)


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass  # the stdin and pid watch below still work


def _catch_stop_signals() -> None:
    """The stop signals reach _watch_parent's thread (the wakeup byte is what counts). Done
    again after importing pycolmap, whose glog failure handler takes SIGTERM over and would
    kill the worker with its temp folder left behind."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda *_: None)


def _watch_parent(parent: int, cleanup: Path | None) -> None:
    """Remove `cleanup` and exit as soon as the parent is gone: EOF on stdin, a stop signal
    (the parent-death signal among them) or a new parent pid. A thread does it, not a Python
    signal handler, which would wait for COLMAP's current call to return (pycolmap releases
    the GIL, so the thread runs meanwhile); the signal reaches it through a wakeup pipe."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    _catch_stop_signals()

    def gone() -> None:
        # The main thread and COLMAP's threads run on while the folder goes: they may add a
        # file to it, or COLMAP may abort on a file that went and take the process down with
        # half the folder left (a CI run kept database.db). So a forked child, which has this
        # thread only, removes the folder once the worker, with all its threads, has exited.
        if cleanup is None:
            os._exit(EXIT_STOPPED)
        if hasattr(os, "fork"):
            me = os.getpid()
            if os.fork() == 0:
                while os.getppid() == me:
                    time.sleep(0.005)
                shutil.rmtree(cleanup, ignore_errors=True)
                os._exit(0)
        else:
            shutil.rmtree(cleanup, ignore_errors=True)
        os._exit(EXIT_STOPPED)

    def watch() -> None:
        stdin = sys.stdin.fileno()
        while True:
            if os.getppid() != parent:
                gone()
            ready, _, _ = select.select([stdin, wake_r], [], [], PARENT_POLL_S)
            if wake_r in ready and os.read(wake_r, 64):
                gone()
            if stdin in ready and not os.read(stdin, 4096):  # EOF: the parent's end is closed
                gone()

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _log_to(folder: Path | None) -> None:
    """COLMAP's glog files into `folder`/logs (the temp folder, removed with it), never TMPDIR.
    Called before pycolmap is imported (glog reads its flags then) and after: a bundle
    adjustment resets glog's flags (log_dir '' is TMPDIR), but not an explicit destination."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if folder is None:
        return
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)  # in the temp folder, which is never recreated once removed
    os.environ["GLOG_log_dir"] = os.environ["GOOGLE_LOG_DIR"] = str(logs)
    logging = getattr(sys.modules.get("pycolmap"), "logging", None)
    if logging is not None:
        logging.log_dir = str(logs)
        for level in (logging.Level.INFO, logging.Level.WARNING, logging.Level.ERROR, logging.Level.FATAL):
            logging.set_log_destination(level, str(logs / f"colmap.{level.name}."))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("images", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--focal", type=float, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-features", type=int, default=2048)
    p.add_argument("--overlap", type=int, default=10)
    p.add_argument("--init-angle", type=float, default=16.0, help="min triangulation angle of the initial pair (deg)")
    p.add_argument("--min-inliers", type=int, default=30, help="min 2D-3D inliers to register a frame")
    p.add_argument("--matcher", choices=MATCHERS, default="sequential")
    p.add_argument("--no-focal-search", action="store_true", help="keep the focal length at the prior")
    p.add_argument("--parent", type=int, default=None,
                   help="pid of the parent, whose pipe is stdin: exit when it is gone")
    p.add_argument("--cleanup", type=Path, default=None, help="temp folder to remove when the parent is gone")
    a = p.parse_args(argv)
    if a.parent is not None:
        _die_with_parent()
        _watch_parent(a.parent, a.cleanup)  # also catches a parent that died before the prctl
    _log_to(a.cleanup)
    try:
        import pycolmap  # noqa: F401 - imported here so that a missing one is an environment failure
    except ImportError as e:
        print(f"pycolmap cannot be imported: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    _log_to(a.cleanup)
    if a.parent is not None:
        _catch_stop_signals()
    try:
        run(a.images, a.out, a.focal, a.width, a.height, a.threads, a.seed, a.max_features, a.overlap, a.init_angle,
            a.min_inliers, a.matcher, not a.no_focal_search)
    except (MemoryError, OSError):  # the machine's limits, not the frames'
        traceback.print_exc()
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
