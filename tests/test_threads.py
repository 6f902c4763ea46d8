"""The thread governor: the faster count under the load of the moment, same observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import inspatio_gym  # noqa: F401
from inspatio_gym.backends.threads import ThreadGovernor, process_governor


def _drive(g: ThreadGovernor, steps: int, cost) -> list[int]:
    """Run `steps` steps whose time per lane is cost(threads); the counts used, in order."""
    used = []
    for _ in range(steps):
        n = g.threads_for_next_step()
        used.append(n)
        g._record(cost(n))
    return used


def test_governor_follows_the_load_and_rarely_tries():
    quiet = {2: 1.0, 1: 1.15}  # two threads 15% faster on idle cores
    busy = {2: 3.7, 1: 1.2}  # another process on the cores: two threads collapse
    g = ThreadGovernor(2, period=32, probe=4)
    used = _drive(g, 1000, quiet.get)
    assert g.current == 2 and used[-1] == 2
    assert used[200:].count(1) / 800 < 0.04  # losing tries back off: a few steps in a hundred at most
    used = _drive(g, 60, busy.get)
    assert g.current == 1, "a sudden slowdown must bring a try of one thread within a few steps"
    assert used.index(1) <= 4
    used = _drive(g, 300, quiet.get)
    assert g.current == 2  # the load went away: back to two threads at the next try


def test_governor_of_one_thread_does_nothing():
    g = ThreadGovernor(1)
    assert not g.active and g.threads_for_next_step() == 1
    with g.step(4):
        pass
    assert g.switches == 0


def test_process_governor_never_exceeds_the_cpus():
    import os

    assert 1 <= process_governor().most <= len(os.sched_getaffinity(0))


@pytest.mark.skipif(torch.get_num_threads() < 2 and len(__import__("os").sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to switch between counts")
def test_switching_counts_keeps_the_observations():
    """The generator's bits do not depend on the thread count, so a governed run is a run."""
    before = torch.get_num_threads()
    try:
        def run(governor):
            env = gym.make("InspatioWorld-v0", world="procedural:num_frames=12", backend="star")
            torch.set_num_threads(1)
            obs, _ = env.reset(seed=2)
            env.unwrapped.core.backend.threads = governor
            out = [obs]
            for k in range(12):
                out.append(env.step(k % 9)[0])
            return np.stack(out), governor

        fixed, _ = run(None)
        flapping = ThreadGovernor(2, period=1, probe=2, margin_down=10.0, margin_up=10.0)  # every try wins: a switch every few steps
        governed, g = run(flapping)
        assert g.switches >= 2
        np.testing.assert_array_equal(fixed, governed)
    finally:
        torch.set_num_threads(before)
