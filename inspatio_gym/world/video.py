"""Reading frames from videos and image folders, streamed and resized to the env resolution.

A frame is centre-cropped to the target aspect ratio and resized as soon as it is decoded,
so a full-resolution video is never held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["VideoError", "fit_frame", "read_video", "read_image_folder", "IMAGE_SUFFIXES", "crop_transform"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class VideoError(ValueError):
    """A video or image folder that cannot be read."""


def crop_transform(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int, float]:
    """Centre crop (x0, y0, cw, ch) of the source with the target aspect, and the resize factor."""
    target = width / height
    if src_w / src_h > target:
        ch, cw = src_h, max(1, round(src_h * target))
    else:
        cw, ch = src_w, max(1, round(src_w / target))
    return (src_w - cw) // 2, (src_h - ch) // 2, cw, ch, width / cw


def fit_frame(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, resize, convert BGR to RGB uint8."""
    if frame_bgr.ndim == 2:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    elif frame_bgr.shape[2] == 4:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_BGRA2BGR)
    if frame_bgr.dtype != np.uint8:
        frame_bgr = cv2.normalize(frame_bgr, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    h, w = frame_bgr.shape[:2]
    x0, y0, cw, ch, s = crop_transform(w, h, width, height)
    crop = frame_bgr[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = cv2.resize(crop, (width, height), interpolation=interp)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def _frames(cap: cv2.VideoCapture, stride: int, max_frames: int | None) -> Iterator[np.ndarray]:
    i = 0
    n = 0
    while max_frames is None or n < max_frames:
        if i % stride == 0:
            ok, frame = cap.read()
            if not ok:
                return
            n += 1
            yield frame
        elif not cap.grab():
            return
        i += 1


def read_video(
    path: str | Path, width: int, height: int, stride: int = 1, max_frames: int | None = None
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Frames [T, height, width, 3] uint8 RGB, the effective fps and the source size (w, h)."""
    path = Path(path)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    if not path.exists():
        raise FileNotFoundError(f"video not found: {str(path)!r}")
    if not path.is_file():
        raise VideoError(f"video path is not a file: {str(path)!r}")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise VideoError(f"cannot open video {str(path)!r}: not a video OpenCV/FFmpeg can decode")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 30.0
        src = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        frames = [fit_frame(f, width, height) for f in _frames(cap, stride, max_frames)]
    finally:
        cap.release()
    if not frames:
        raise VideoError(f"video {str(path)!r} has no decodable frames (empty or corrupt)")
    return np.stack(frames), fps / stride, src


def read_image_folder(
    path: str | Path, width: int, height: int, stride: int = 1, max_frames: int | None = None
) -> np.ndarray:
    """Frames from the images of a folder in name order, [T, height, width, 3] uint8 RGB."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"image folder not found: {str(path)!r}")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[::stride]
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        raise VideoError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {str(path)!r}")
    out = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"cannot decode image {str(f)!r}")
        out.append(fit_frame(img, width, height))
    return np.stack(out)
