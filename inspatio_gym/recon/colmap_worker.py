"""COLMAP structure from motion in its own process (run as a script, never imported).

pycolmap bundles its own libpng/zlib, which clash with OpenCV's in one process (a PNG
write aborts), and COLMAP aborts the process on some internal errors. So the parent
writes the frames, runs this file with the interpreter, and reads back one .npz of plain
arrays: a crash here is a failed reconstruction, not a dead environment.

Pipeline: SIFT on the CPU with one shared SIMPLE_PINHOLE camera, sequential matching,
incremental mapping with the focal length held at the prior (hand-held clips have too
little parallax to find it while the map grows), then a global bundle adjustment that
refines it, kept when it stays within [0.5, 2] of the prior and cuts the reprojection
error by at least a tenth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np


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
    return reader, extract, match, pairing, mapping


def run(images: Path, out: Path, focal: float, width: int, height: int, threads: int, seed: int, max_features: int,
        overlap: int, init_angle: float = 16.0, min_inliers: int = 30) -> None:
    import pycolmap

    work = out.parent / (out.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "database.db"
    reader, extract, match, pairing, mapping = _options(pycolmap, threads, seed, max_features, overlap, init_angle,
                                                        min_inliers)
    names = sorted(p.name for p in images.iterdir())
    reader.camera_params = f"{focal},{width / 2},{height / 2}"
    pycolmap.extract_features(db, images, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=extract, device=pycolmap.Device.cpu)
    pycolmap.match_sequential(db, matching_options=match, pairing_options=pairing, device=pycolmap.Device.cpu)
    recs = pycolmap.incremental_mapping(db, images, work, mapping)
    if not recs:
        np.savez(out, ok=np.array(False), reason=np.array("no initial image pair could be reconstructed"))
        return
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    err_fixed = rec.compute_mean_reprojection_error()
    ba = pycolmap.BundleAdjustmentOptions()
    ba.refine_focal_length = True
    ba.refine_principal_point = False
    ba.print_summary = False
    refined = rec.__class__(rec)  # a copy: the fixed-focal solution stays if refinement drifts
    pycolmap.bundle_adjustment(refined, ba)
    f_ref = float(next(iter(refined.cameras.values())).params[0])
    # short clips constrain the focal length weakly: keep the prior unless refining it cuts the
    # reprojection error by a tenth (on test clips smaller gains came with 20% focal errors)
    if 0.5 * focal <= f_ref <= 2.0 * focal and refined.compute_mean_reprojection_error() <= 0.9 * err_fixed:
        rec = refined
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
        focal_refined=np.array(rec is refined),
    )
    shutil.rmtree(work, ignore_errors=True)


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
    a = p.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    run(a.images, a.out, a.focal, a.width, a.height, a.threads, a.seed, a.max_features, a.overlap, a.init_angle,
        a.min_inliers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
