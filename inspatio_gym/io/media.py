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

__all__ = ["write_mp4", "write_png", "contact_sheet", "stack_sheets"]


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


_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (20, 20, 20)


def _text_height(scale: float) -> int:
    (_, h), base = cv2.getTextSize("Ag", _FONT, scale, 1)
    return h + base + 2


def _put(img: np.ndarray, text: str, x: int, y: int, scale: float, colour: tuple[int, int, int]) -> None:
    cv2.putText(img, text, (x, y), _FONT, scale, colour, 1, cv2.LINE_AA)


def contact_sheet(frames: Sequence[np.ndarray], columns: int = 8, max_tiles: int = 32, upscale: int = 2,
                  gap: int = 2, labels: Sequence[Sequence[object]] | None = None, title: str | None = None) -> np.ndarray:
    """Evenly spaced frames tiled in a grid on a white background, [H', W', 3] uint8.

    labels: caption lines per frame (text, or (text, RGB colour)), printed under each tile
    shown, so a sheet says what it shows (step, coverage, a blocked move); title: a line
    above the grid (backend, world, size)."""
    if len(frames) == 0:
        raise ValueError("no frames for a contact sheet")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"{len(labels)} label lists for {len(frames)} frames")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_tiles, len(frames))).round().astype(int))
    tiles = [frames[i] for i in idx]
    h, w = tiles[0].shape[:2]
    h, w = h * upscale, w * upscale
    scale = float(np.clip(w / 300, 0.3, 0.6))
    line_h = _text_height(scale)
    n_lines = max((len(labels[i]) for i in idx), default=0) if labels is not None else 0
    cap = n_lines * line_h + (2 if n_lines else 0)
    top = _text_height(max(scale, 0.45)) + 4 if title else 0
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.full((top + rows * (h + cap + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    if title:
        _put(sheet, title, gap + 2, top - 6, max(scale, 0.45), _INK)
    for k, (i, t) in enumerate(zip(idx, tiles)):
        r, c = divmod(k, cols)
        y, x = top + gap + r * (h + cap + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = cv2.resize(t, (w, h), interpolation=cv2.INTER_NEAREST)
        for j, line in enumerate(labels[i] if labels is not None else ()):
            text, colour = (line, _INK) if isinstance(line, str) else line  # type: ignore[misc]
            _put(sheet, str(text), x + 1, y + h + (j + 1) * line_h - 2, scale, tuple(colour))
    return sheet


def stack_sheets(sheets: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Sheets one above the other (padded white to the widest), e.g. one per backend."""
    if not sheets:
        raise ValueError("no sheets to stack")
    width = max(s.shape[1] for s in sheets)
    rows = []
    for k, s in enumerate(sheets):
        pad = np.full((s.shape[0], width, 3), 255, np.uint8)
        pad[:, : s.shape[1]] = s
        rows.append(pad)
        if k + 1 < len(sheets):
            rows.append(np.full((gap, width, 3), 255, np.uint8))
    return np.concatenate(rows, 0)
