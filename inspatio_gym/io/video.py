"""Reading frames from videos and image folders, streamed and resized to the env resolution.

A frame is centre-cropped to the target aspect ratio and resized as soon as it is decoded,
so a full-resolution video is never held in memory.
"""

from __future__ import annotations

import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["VideoError", "fit_frame", "read_video", "read_image_folder", "list_images", "IMAGE_SUFFIXES", "crop_transform",
           "probe_video", "FOLDER_FPS", "check_fps", "frame_rate", "check_regular_file"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: Frame rate assumed for an image folder, which states none (pass fps= for the true one).
FOLDER_FPS = 30.0


class VideoError(ValueError):
    """A video or image folder that cannot be read."""


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def check_regular_file(path: str | Path, what: str = "video") -> None:
    """Raise VideoError unless path is a regular file (following links): a FIFO or a device
    such as /dev/zero would make hashing or decoding read without end."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {str(path)!r}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
        raise VideoError(f"{what} {str(path)!r} is not a regular file ({kind})")


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


@contextmanager
def _open_video(path: Path) -> Iterator[cv2.VideoCapture]:
    """An opened capture of a video file (released on exit), or a clear error naming it."""
    check_regular_file(path, "video")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise VideoError(f"cannot open video {str(path)!r}: not a video OpenCV/FFmpeg can decode")
        yield cap
    finally:
        cap.release()


def _fps(cap: cv2.VideoCapture) -> float:
    """The container's frame rate (30 when it states none or nonsense)."""
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    return float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 30.0


def probe_video(path: str | Path) -> tuple[int, int, int, float]:
    """(width, height, frame count, fps) from the container (count 0 when it states none)."""
    path = Path(path)
    with _open_video(path) as cap:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = _fps(cap)
    if w <= 0 or h <= 0:
        raise VideoError(f"video {str(path)!r} states no frame size (corrupt header?)")
    n = int(n) if n and np.isfinite(n) and n > 0 else 0
    return w, h, n, fps


def probe_fps(path: str | Path) -> float:
    """The container's frame rate (30 when it states none or nonsense, or cannot be opened;
    a FIFO or device is never opened: reading one would not end)."""
    try:
        if not stat.S_ISREG(Path(path).stat().st_mode):
            return 30.0
    except OSError:
        return 30.0
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return _fps(cap)
    finally:
        cap.release()


def read_video(
    path: str | Path, width: int, height: int, stride: int = 1, max_frames: int | None = None
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Frames [T, height, width, 3] uint8 RGB, the effective fps and the source size (w, h)."""
    path = Path(path)
    check_sampling(stride, max_frames)
    with _open_video(path) as cap:
        fps = _fps(cap)
        src = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        frames = [fit_frame(f, width, height) for f in _frames(cap, stride, max_frames)]
    if not frames:
        raise VideoError(f"video {str(path)!r} has no decodable frames (empty or corrupt)")
    return np.stack(frames), fps / stride, src


def check_fps(fps: object) -> None:
    """A user frame rate: None (the source's own) or a finite number > 0."""
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating))
                            or not (np.isfinite(fps) and fps > 0)):
        raise ValueError(f"fps must be a number > 0 or None, got {fps!r}")


def frame_rate(user_fps: float | None, stated_fps: float, is_folder: bool) -> tuple[float, str]:
    """(fps, where it came from): the user's ("user"), a video container's ("container"),
    or an image folder's FOLDER_FPS default ("default": worth saying, it is a guess)."""
    if user_fps is not None:
        return float(user_fps), "user"
    return float(stated_fps), "default" if is_folder else "container"


def _natural_key(name: str) -> list:
    """'img2' before 'img10'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def check_sampling(stride: object, max_frames: object) -> None:
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 1
    ):
        raise ValueError(f"max_frames must be an integer >= 1 or None, got {max_frames!r}")


def list_images(path: str | Path, pattern: str | None = None) -> list[Path]:
    """Image files of a folder in natural name order.

    With no pattern, files with "depth" in their name are left out (datasets such as
    7-Scenes keep colour and depth PNGs side by side); a glob pattern selects explicitly.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"image folder not found: {str(path)!r}")
    if pattern is not None:
        files = [p for p in path.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and "depth" not in p.name.lower()]
    return sorted(files, key=lambda p: _natural_key(p.name))


def read_image_folder(
    path: str | Path, width: int, height: int, stride: int = 1, max_frames: int | None = None,
    pattern: str | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Frames from the images of a folder in natural name order, and the source size (w, h).

    Every image must have the size of the first one.
    """
    check_sampling(stride, max_frames)
    files = list_images(path, pattern)[::stride]
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        what = f"matching {pattern!r}" if pattern else f"({', '.join(IMAGE_SUFFIXES)})"
        raise VideoError(f"no images {what} in folder {str(path)!r}")
    out = []
    src: tuple[int, int] | None = None
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"cannot decode image {str(f)!r}")
        size = (img.shape[1], img.shape[0])
        if src is None:
            src = size
        elif size != src:
            raise VideoError(f"image {str(f)!r} is {size[0]}x{size[1]}, but the folder's first image is {src[0]}x{src[1]}")
        out.append(fit_frame(img, width, height))
    assert src is not None
    return np.stack(out), src
