"""How much parallax a video has, before any reconstruction is attempted.

Corners of the first frame are tracked frame to frame (pyramidal Lucas-Kanade with a
forward-backward check) and their motion from the start is fitted by a homography. A homography explains
a static camera and a camera that only rotates; whatever it leaves over is parallax. The
chained homographies also give the rotations of a rotation-only clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ParallaxReport", "measure_parallax", "rotations_from_homographies"]


@dataclass
class ParallaxReport:
    motion_px: float  # largest median corner displacement from frame 0, pixels
    parallax_px: float  # largest median residual of the frame-0 -> frame-i homographies
    homographies: np.ndarray  # [N, 3, 3] frame 0 -> frame i (identity for frame 0)
    tracked: int  # corners tracked through the whole clip

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
    if N < 2:
        return ParallaxReport(0.0, 0.0, Hs, 0)
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    prev = _gray(frames[0])
    pts0 = cv2.goodFeaturesToTrack(prev, max_corners, 0.01, 7)
    if pts0 is None:
        return ParallaxReport(0.0, 0.0, Hs, 0)
    start = pts0.reshape(-1, 2).astype(np.float32)
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
            Hm, _ = cv2.findHomography(start, cur, cv2.RANSAC, 2.0)
            if Hm is not None:
                Hs[i] = Hm
                proj = cv2.perspectiveTransform(start.reshape(-1, 1, 2).astype(np.float64), Hm).reshape(-1, 2)
                parallax = max(parallax, float(np.percentile(np.linalg.norm(proj - cur, axis=1), 50)))
            motion = max(motion, float(np.median(np.linalg.norm(cur - start, axis=1))))
        else:
            Hs[i] = Hs[i - 1]
        prev = g
    return ParallaxReport(motion, parallax, Hs, int(len(start)))


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
