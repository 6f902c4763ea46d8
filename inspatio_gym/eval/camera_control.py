"""Camera control as the field reports it: the RealEstate10K protocol of CameraCtrl / CamI2V.

Poses are re-estimated from a backend's frames by COLMAP (SIFT, sequential matching, the
intrinsics fixed at the truth's) and compared with the poses the camera was asked to take:
both made relative to frame 0, each trajectory's translations divided by its largest
camera-centre norm (so the arbitrary SfM scale drops out), then summed over the frames:

    RotErr   = sum_i arccos((tr(R_gt,i^T R_i) - 1) / 2)       (radians)
    TransErr = sum_i || t_gt,i - t_i ||
    CamMC    = sum_i || [R|t]_gt,i - [R|t]_i ||_F

plus the mean rotation error in degrees. The original reports RotErr 2.876 and TransErr
20.139 over 150 frames on RealEstate10K. Frames SfM does not register are left out of the
sums and counted (``registered``): a sum over fewer frames is not comparable, so the
registered share is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CameraErrors", "camera_errors", "normalise_trajectory", "reestimate_poses"]


@dataclass
class CameraErrors:
    roterr: float  # radians, summed over the registered frames
    transerr: float
    cammc: float
    rot_deg_mean: float
    registered: int  # frames whose pose was re-estimated (of `frames`)
    frames: int

    def as_dict(self) -> dict[str, float | int]:
        return {"roterr": self.roterr, "transerr": self.transerr, "cammc": self.cammc,
                "rot_deg_mean": self.rot_deg_mean, "registered": self.registered, "frames": self.frames}


def normalise_trajectory(c2w: np.ndarray) -> np.ndarray:
    """Camera-to-world poses [N, 4, 4] relative to the first, translations divided by the
    largest camera-centre norm (left as they are when the camera does not move)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    rel = np.linalg.inv(c2w[0]) @ c2w
    norm = float(np.linalg.norm(rel[:, :3, 3], axis=1).max())
    if norm > 1e-12:
        rel = rel.copy()
        rel[:, :3, 3] /= norm
    return rel


def camera_errors(gt_c2w: np.ndarray, est_c2w: np.ndarray, registered: np.ndarray | None = None) -> CameraErrors:
    """The protocol's errors of estimated poses est_c2w [M, 4, 4] against the asked-for
    gt_c2w [N, 4, 4]; registered: the indices (into gt) of the M estimated frames, which
    must include frame 0 (default: all N, in order)."""
    gt = np.asarray(gt_c2w, dtype=np.float64)
    est = np.asarray(est_c2w, dtype=np.float64)
    ids = np.arange(len(gt)) if registered is None else np.asarray(registered, dtype=np.int64)
    if gt.ndim != 3 or gt.shape[1:] != (4, 4) or est.shape != (len(ids), 4, 4):
        raise ValueError(f"expected gt [N,4,4] and est [M,4,4] with M registered indices, got {gt.shape}, "
                         f"{est.shape} and {len(ids)} indices")
    if len(ids) == 0 or ids[0] != 0:
        raise ValueError("the estimate must include frame 0 (the trajectories are relative to it)")
    g = normalise_trajectory(gt[ids])
    e = normalise_trajectory(est)
    cos = (np.einsum("nij,nij->n", g[:, :3, :3], e[:, :3, :3]) - 1.0) / 2.0  # tr(Rg^T Re) = sum Rg*Re
    ang = np.arccos(np.clip(cos, -1.0, 1.0))
    trans = np.linalg.norm(g[:, :3, 3] - e[:, :3, 3], axis=1)
    mc = np.linalg.norm((g[:, :3, :] - e[:, :3, :]).reshape(len(ids), -1), axis=1)
    return CameraErrors(roterr=float(ang.sum()), transerr=float(trans.sum()), cammc=float(mc.sum()),
                        rot_deg_mean=float(np.degrees(ang).mean()), registered=int(len(ids)), frames=int(len(gt)))


def reestimate_poses(frames: np.ndarray, K: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(registered frame indices, camera-to-world poses) of frames [N, H, W, 3] uint8 by COLMAP:
    SIFT, sequential matching, the focal length fixed at K's (no focal search). The initial
    pair needs 4 degrees of triangulation angle, not COLMAP's 16: a scripted orbit's
    neighbouring views are closer than that, and with 16 a mapper started on exact frames
    registered 150 of 150 where one on the warp's registered 3 (tested on the same orbit).
    Raises recon.sfm.SfmError when fewer than 2 frames register."""
    from ..recon.sfm import run_sfm

    W = frames.shape[2]
    fov = float(np.degrees(2 * np.arctan(0.5 * W / K[0, 0])))
    r = run_sfm(np.ascontiguousarray(frames), fov=fov, threads=threads, matcher="sequential", focal_search=False,
                init_angle=4.0)
    order = np.argsort(r.frame_ids)
    return r.frame_ids[order], r.c2w[order]
