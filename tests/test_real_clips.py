"""The vae stage's real clips (train.data.real_clips) and the stage's real/procedural mix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors import safe_open

from inspatio_gym.train import load_run_config, make_stage, train
from inspatio_gym.train.data.real_clips import RealFrameClips
from inspatio_gym.train.data.seeds import HELD_OUT_SCENES
from inspatio_gym.world.sources import procedural_world

ROOT = Path(__file__).resolve().parents[1]


def _folder(path: Path, n: int = 6, size: int = 48) -> Path:
    w = procedural_world(seed=2, num_frames=n, width=size, height=size)
    (path / "frames").mkdir(parents=True)
    for i, f in enumerate(w.frames):
        cv2.imwrite(str(path / "frames" / f"{i:06d}.png"), f[..., ::-1])
    return path


def test_real_clips_are_consecutive_crops_in_range(tmp_path):
    src = _folder(tmp_path / "scene")
    clips = RealFrameClips([str(src)], size=16, frames=3)
    a = clips.sample(4, np.random.default_rng(0))
    assert a.shape == (4, 3, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    b = clips.sample(4, np.random.default_rng(0))
    assert (a == b).all()  # a function of the generator
    assert (a[:, 1:] != a[:, :-1]).any()  # frames of a clip differ: the capture moves
    with pytest.raises(ValueError, match="3 frames"):
        RealFrameClips([str(_folder(tmp_path / "short", n=2))], size=16, frames=3)
    with pytest.raises(ValueError, match="held-out"):
        RealFrameClips([str(_folder(tmp_path / HELD_OUT_SCENES[0]))], size=16)
    with pytest.raises(FileNotFoundError, match="matches no file"):
        RealFrameClips([str(tmp_path / "missing*")], size=16)


def test_vae_stage_trains_on_the_mix_and_reports_both_psnrs(tmp_path):
    cfg = dataclasses.replace(load_run_config(ROOT / "configs" / "train" / "vae_tiny.toml"),
                              real=[str(_folder(tmp_path / "scene"))], real_fraction=0.5, out=str(tmp_path / "vae"))
    s = train(make_stage(cfg), cfg, cfg.out, progress=False)
    with safe_open(s["export"], framework="pt") as f:
        meta = f.metadata()
    assert np.isfinite(float(meta["psnr_db"])) and np.isfinite(float(meta["psnr_real_db"]))
    with pytest.raises(ValueError, match="real sources"):
        dataclasses.replace(cfg, real=[])
