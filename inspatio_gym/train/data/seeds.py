"""Which worlds train and which evaluate, and the seeding that makes every batch reproducible.

Every sample is a function of (run seed, step, rank, index): a resumed or distributed run
sees exactly the data an uninterrupted single run would. Worlds whose seed is in
HELD_OUT_SEEDS are never used for training; evaluation uses only them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DATA_SET", "FIXED_SAMPLES", "HELD_OUT_SEEDS", "TRAIN_SEEDS", "batch_rng"]

#: Procedural worlds kept out of every training stage, for evaluation.
HELD_OUT_SEEDS: tuple[int, ...] = tuple(range(900_000, 900_032))
#: Training worlds are drawn from this range (disjoint from HELD_OUT_SEEDS).
TRAIN_SEEDS = range(0, 100_000)

#: "Steps" of the fixed sample and statistics batches, outside any run's step range.
FIXED_SAMPLES = 2**40
#: "Steps" of the clips of a fixed training set (data_clips), outside any run's step range.
DATA_SET = 2**41


def batch_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The generator of one step's batch on one rank."""
    return np.random.default_rng([int(seed), int(step), int(rank), 0x1A5])
