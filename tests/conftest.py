"""Shared fixtures: small worlds, and the real clips in ../shared/data when present."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = DATA / "real"


def real_clip(name: str) -> Path:
    """Path of a clip in the shared test data, or skip the test when it is absent."""
    p = REAL / name
    if not p.exists():
        pytest.skip(f"shared test data not present: {p}")
    return p


@pytest.fixture(scope="session")
def room_world():
    """The default procedural room at 64x64, 24 frames (built once per test session)."""
    from inspatio_gym.world import procedural_world

    return procedural_world(seed=0, num_frames=24, width=64, height=64)


def _set_env(name: str, value: str):
    """Set an environment variable for the test session, restoring it after."""
    import os

    old = os.environ.get(name)
    os.environ[name] = value
    yield
    if old is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = old


@pytest.fixture(scope="session", autouse=True)
def _private_world_cache(tmp_path_factory):
    """Preprocessed worlds go to a fresh folder per test session, never to the user's cache."""
    yield from _set_env("INSPATIO_GYM_CACHE", str(tmp_path_factory.mktemp("world-cache")))


@pytest.fixture(scope="session", autouse=True)
def _private_sb3_logs(tmp_path_factory):
    """SB3's learn() makes a log folder in the system temp folder unless SB3_LOGDIR says where."""
    yield from _set_env("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logs")))


@pytest.fixture
def no_prior_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
