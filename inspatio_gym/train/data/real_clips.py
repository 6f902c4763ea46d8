"""The vae stage's real data: short clips of real frames, randomly cropped and flipped.

A VAE that never saw a real image reconstructs real frames ~5 dB worse than procedural
ones, and everything the generator shows passes through it. Sources are videos, image
folders, 7-Scenes folders and multi-view scene folders (their frames in order: the views
of a capture move like a camera does); only pixels are read, no geometry. The held-out
scenes (seeds.HELD_OUT_SCENES) are refused, as in every stage.
"""

from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np
import torch

from ...io.video import read_image_folder, read_video
from .seeds import HELD_OUT_SCENES, held_out_scene

__all__ = ["RealFrameClips", "real_source_paths"]

LOAD_SIZE = 2  # frames are read at this multiple of the clip size, then randomly cropped
MAX_FRAMES = 240  # per source


def real_source_paths(sources: list[str]) -> list[Path]:
    """The paths a config's real sources name (globs skip held-out scenes; naming one is an error)."""
    out = []
    for pattern in sources:
        paths = sorted(glob.glob(str(pattern))) or ([pattern] if Path(pattern).exists() else [])
        if not paths:
            raise FileNotFoundError(f"real training source {pattern!r} matches no file or folder")
        if any(ch in str(pattern) for ch in "*?["):
            paths = [p for p in paths if not held_out_scene(p)]
        elif held_out_scene(pattern):
            raise ValueError(f"real source {pattern!r} is a held-out evaluation scene ({', '.join(HELD_OUT_SCENES)}): "
                             "it must never be trained on")
        out += [Path(p) for p in paths]
    return out


def _read(path: Path, side: int) -> np.ndarray:
    """Frames [N, side, side, 3] uint8 of one source (centre-cropped square)."""
    if path.is_dir():
        folder = path / "frames" if (path / "frames").is_dir() else path
        pattern = "*.color.png" if any(folder.glob("*.color.png")) else None
        frames, _ = read_image_folder(folder, side, side, 1, MAX_FRAMES, pattern)
        return frames
    frames, _, _ = read_video(path, side, side, 1, MAX_FRAMES)
    return frames


class RealFrameClips:
    """Clips [B, T, 3, size, size] in [-1, 1]: T consecutive frames of a random source, one
    random crop (0.5-1 of the loaded square, so scales vary) and flip for the whole clip."""

    def __init__(self, sources: list[str], size: int, frames: int = 3) -> None:
        self.size, self.frames = int(size), int(frames)
        self.videos = []
        for p in real_source_paths(sources):
            f = _read(p, LOAD_SIZE * self.size)
            if len(f) >= self.frames:
                self.videos.append(f)
        if not self.videos:
            raise ValueError(f"no real source in {sources!r} has {self.frames} frames or more")

    def sample(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        clips = []
        side = LOAD_SIZE * self.size
        for _ in range(batch):
            v = self.videos[int(rng.integers(len(self.videos)))]
            t0 = int(rng.integers(len(v) - self.frames + 1))
            c = int(rng.integers(side // 2, side + 1))
            x0, y0 = int(rng.integers(side - c + 1)), int(rng.integers(side - c + 1))
            crop = [cv2.resize(f[y0 : y0 + c, x0 : x0 + c], (self.size, self.size), interpolation=cv2.INTER_AREA)
                    for f in v[t0 : t0 + self.frames]]
            clip = np.stack(crop)
            if rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            clips.append(torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0))
        return torch.stack(clips)
