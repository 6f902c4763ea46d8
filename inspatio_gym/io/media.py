"""Writing rollouts for people to look at: MP4 videos and PNG contact sheets.

Files are written to a temporary name in the same folder and renamed when complete, so an
interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .atomic import atomic_path

__all__ = ["write_mp4", "write_png", "contact_sheet"]


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], fps: float, upscale: int = 1) -> Path:
    """RGB uint8 frames [H, W, 3] to an MP4 (mpeg4), optionally upscaled with nearest pixels."""
    path = Path(path)
    if len(frames) == 0:
        raise ValueError("no frames to write")
    h, w = frames[0].shape[:2]
    with atomic_path(path, ".mp4") as tmp:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w * upscale, h * upscale))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write MP4 to {tmp!r}")
        try:
            for f in frames:
                if f.shape[:2] != (h, w):
                    raise ValueError(f"frame of shape {f.shape} in a video of {h}x{w}")
                if upscale > 1:
                    f = cv2.resize(f, (w * upscale, h * upscale), interpolation=cv2.INTER_NEAREST)
                writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return path


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """An RGB uint8 image to PNG, atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode PNG for {str(path)!r}")
    with atomic_path(path, ".png") as tmp:
        Path(tmp).write_bytes(buf.tobytes())
    return path


def contact_sheet(frames: Sequence[np.ndarray], columns: int = 8, max_tiles: int = 32, upscale: int = 2,
                  gap: int = 2) -> np.ndarray:
    """Evenly spaced frames tiled in a grid on a white background, [H', W', 3] uint8."""
    if len(frames) == 0:
        raise ValueError("no frames for a contact sheet")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_tiles, len(frames))).round().astype(int))
    tiles = [frames[i] for i in idx]
    h, w = tiles[0].shape[:2]
    h, w = h * upscale, w * upscale
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = cv2.resize(t, (w, h), interpolation=cv2.INTER_NEAREST)
    return sheet
