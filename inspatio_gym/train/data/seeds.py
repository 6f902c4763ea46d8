"""Which worlds train and which evaluate, and the seeding that makes every batch reproducible.

Every sample is a function of (run seed, step, rank, index): a resumed or distributed run
sees exactly the data an uninterrupted single run would. Worlds whose seed is in
HELD_OUT_SEEDS are never used for training; evaluation uses only them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DATA_SET", "FIXED_SAMPLES", "HELD_OUT_SCENES", "HELD_OUT_SEEDS", "TRAIN_SEEDS", "batch_rng",
           "held_out_scene"]

#: Procedural worlds kept out of every training stage, for evaluation.
HELD_OUT_SEEDS: tuple[int, ...] = tuple(range(900_000, 900_032))
#: Real multi-view scenes (../shared/data/real_multiview, by folder name) kept out of every
#: training stage, for evaluation: a room with sensor depth (SUN3D: both segments, one
#: room), an object capture (DTU) and a forward-facing capture (LLFF), so each kind of
#: real scene is scored unseen.
HELD_OUT_SCENES: tuple[str, ...] = ("sun3d_studyroom_f3160", "sun3d_studyroom_f935", "dtu_scan24", "llff_flower")
#: Training worlds are drawn from this range (disjoint from HELD_OUT_SEEDS).
TRAIN_SEEDS = range(0, 100_000)

#: "Steps" of the fixed sample and statistics batches, outside any run's step range.
FIXED_SAMPLES = 2**40
#: "Steps" of the clips of a fixed training set (data_clips), outside any run's step range.
DATA_SET = 2**41


def batch_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The generator of one step's batch on one rank."""
    return np.random.default_rng([int(seed), int(step), int(rank), 0x1A5])


def held_out_scene(path: str) -> bool:
    """Whether a real source (a folder or a file) is one of HELD_OUT_SCENES: training refuses it."""
    return Path(str(path).rstrip("/")).name in HELD_OUT_SCENES
