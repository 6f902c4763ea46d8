"""How much parallax a video has, before any reconstruction is attempted.

Corners of the first frame are tracked frame to frame (pyramidal Lucas-Kanade with a
forward-backward check) and their motion from the start is fitted by a homography. A homography explains
a static camera and a camera that only rotates; whatever it leaves over is parallax. The
homographies also give the rotations of a rotation-only clip, but only where they can be
trusted (homography_rotations): enough RANSAC inliers, a near-orthonormal K^-1 H K, a
plausible step from the last trusted frame and a total turn the frame-0 corners could
still be seen at; elsewhere the last trusted rotation is held, and those frames are named.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ParallaxReport", "RotationTrack", "measure_parallax", "rotations_from_homographies",
           "homography_rotations"]

#: A homography from fewer RANSAC inliers than this does not give a rotation (tracking lost:
#: with 5 corners left a pan's yaw swung to -60 degrees and stuck there; a 160 px pan still
#: tracks 19 good ones at its end).
MIN_INLIERS = 12
#: Largest rotation between two consecutive frames (degrees) taken from a homography.
MAX_STEP_DEG = 10.0
#: Largest deviation of the singular values of K^-1 H K (scaled to determinant 1) from 1: a
#: rotation gives exactly 1; a projective fit to a few bad tracks does not.
MAX_SHEAR = 0.25


@dataclass
class ParallaxReport:
    motion_px: float  # largest median corner displacement from frame 0, pixels
    parallax_px: float  # largest median residual of the frame-0 -> frame-i homographies
    homographies: np.ndarray  # [N, 3, 3] frame 0 -> frame i (identity for frame 0)
    tracked: int  # corners tracked through the whole clip
    inliers: np.ndarray | None = None  # [N] RANSAC inliers of each homography (0: none fitted)

    @property
    def known(self) -> bool:
        """Enough corners were tracked to judge (a black first frame or lost tracks: unknown)."""
        return self.tracked >= 8

    @property
    def static(self) -> bool:
        return self.known and self.motion_px < 1.0

    def enough(self, min_parallax_px: float) -> bool:
        """Parallax to triangulate from, or no way to tell (then SfM decides)."""
        return not self.known or self.parallax_px >= min_parallax_px


def _gray(f: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)


def measure_parallax(frames: np.ndarray, max_corners: int = 400) -> ParallaxReport:
    """Parallax of frames [N, H, W, 3] uint8 RGB (a few hundred pixels wide is plenty).

    Corners of frame 0 are chained through the clip; at every frame the homography from
    their start is fitted (RANSAC) and its median residual is the parallax there.
    """
    N = len(frames)
    Hs = np.repeat(np.eye(3)[None], N, axis=0)
    inliers = np.zeros(N, np.int64)
    if N < 2:
        return ParallaxReport(0.0, 0.0, Hs, 0, inliers)
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    prev = _gray(frames[0])
    pts0 = cv2.goodFeaturesToTrack(prev, max_corners, 0.01, 7)
    if pts0 is None:
        return ParallaxReport(0.0, 0.0, Hs, 0, inliers)
    start = pts0.reshape(-1, 2).astype(np.float32)
    inliers[0] = len(start)
    cur = start.copy()
    motion = parallax = 0.0
    for i in range(1, N):
        g = _gray(frames[i])
        if len(cur) >= 8:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, g, cur.reshape(-1, 1, 2), None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(g, prev, nxt, None, **lk)
            nxt, back = nxt.reshape(-1, 2), back.reshape(-1, 2)
            ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back - cur, axis=1) < 1.0)
            start, cur = start[ok], nxt[ok]
        if len(cur) >= 8:
            Hm, mask = cv2.findHomography(start, cur, cv2.RANSAC, 2.0)
            if Hm is not None:
                Hs[i] = Hm
                inliers[i] = int(mask.sum()) if mask is not None else 0
                proj = cv2.perspectiveTransform(start.reshape(-1, 1, 2).astype(np.float64), Hm).reshape(-1, 2)
                parallax = max(parallax, float(np.percentile(np.linalg.norm(proj - cur, axis=1), 50)))
            motion = max(motion, float(np.median(np.linalg.norm(cur - start, axis=1))))
        else:
            Hs[i] = Hs[i - 1]
        prev = g
    return ParallaxReport(motion, parallax, Hs, int(len(start)), inliers)


def rotations_from_homographies(Hs: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-to-world poses [N, 4, 4] (world = frame 0) of a rotation-only clip: a
    homography H = K R K^-1 with R taking frame-0 camera coordinates to frame i's."""
    Kinv = np.linalg.inv(K)
    out = np.repeat(np.eye(4)[None], len(Hs), axis=0)
    for i, Hm in enumerate(Hs):
        M = Kinv @ Hm @ K
        U, _, Vt = np.linalg.svd(M)
        R = U @ Vt
        if np.linalg.det(R) < 0:
            R = -R
        out[i, :3, :3] = R.T
    return out


@dataclass
class RotationTrack:
    """Rotations of a rotation-only clip and the frames where the homography was not trusted."""

    c2w: np.ndarray  # [N, 4, 4] camera-to-world (world = frame 0), no translation
    held: np.ndarray  # [N] bool: the last trusted rotation was held here
    reasons: dict[str, int]  # why frames were held (reason -> count)


def _angle_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def _shear(Hm: np.ndarray, K: np.ndarray) -> float:
    """How far K^-1 H K is from a rotation (0 for an exact one)."""
    M = np.linalg.inv(K) @ Hm @ K
    det = np.linalg.det(M)
    if not np.isfinite(det) or abs(det) < 1e-12:
        return float("inf")
    sv = np.linalg.svd(M / np.cbrt(det), compute_uv=False)
    return float(np.abs(sv - 1).max())


def _max_turn_deg(K: np.ndarray) -> float:
    """The diagonal field of view: a frame turned further sees none of frame 0's corners."""
    w, h = 2 * (K[0, 2] + 0.5), 2 * (K[1, 2] + 0.5)
    return float(2 * np.degrees(np.arctan(np.hypot(w / (2 * K[0, 0]), h / (2 * K[1, 1])))))


def _why_untrusted(Hm: np.ndarray, K: np.ndarray, inliers: int, R: np.ndarray, R_last: np.ndarray, gap: int,
                   min_inliers: int, max_step_deg: float, max_turn_deg: float) -> str | None:
    """The reason frame i's homography rotation is not trusted, or None."""
    if inliers < min_inliers:
        return "too_few_inliers"
    if _shear(Hm, K) > MAX_SHEAR:
        return "not_a_rotation"
    if _angle_deg(R @ R_last.T) > max_step_deg * gap:
        return "implausible_jump"
    if _angle_deg(R) > max_turn_deg:
        return "beyond_field_of_view"
    return None


def homography_rotations(Hs: np.ndarray, K: np.ndarray, inliers: np.ndarray | None = None,
                         min_inliers: int = MIN_INLIERS, max_step_deg: float = MAX_STEP_DEG) -> RotationTrack:
    """Rotations from the frame-0 homographies where they can be trusted, else the last trusted
    one held (never extrapolated); inliers None trusts every count (the other checks still apply)."""
    raw = rotations_from_homographies(Hs, K)
    N = len(Hs)
    counts = np.full(N, np.iinfo(np.int64).max) if inliers is None else np.asarray(inliers)
    out = np.repeat(np.eye(4)[None], N, axis=0)
    held = np.zeros(N, bool)
    reasons: dict[str, int] = {}
    last, last_i = np.eye(3), 0
    turn = _max_turn_deg(K)
    for i in range(1, N):
        R = raw[i, :3, :3]
        why = _why_untrusted(Hs[i], K, int(counts[i]), R, last, i - last_i, min_inliers, max_step_deg, turn)
        if why is None:
            last, last_i = R, i
        else:
            held[i] = True
            reasons[why] = reasons.get(why, 0) + 1
        out[i, :3, :3] = last
    return RotationTrack(out, held, reasons)
