"""Torch intra-op threads that follow the machine's load, for the generator's steps.

On a quiet 2-core machine two threads step the generator ~15% faster than one; with one
other busy process on those cores two threads collapse (OpenMP waits at every op for the
thread that lost its core: 0.27x) while one thread hardly notices. No fixed count is right
in both cases, and an env cannot know what else runs on its cores. So the governor measures:
it steps at the settled count, now and then tries the other count for a few steps, and
keeps whichever is faster per lane; a sudden slowdown triggers a try at once, and a try
that loses doubles the wait before the next one (a few percent of steps at most).

The observations do not depend on the count: the generator's kernels give the same bits
at one and at two threads (tested), so switching keeps determinism.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["ThreadGovernor", "process_governor"]


class ThreadGovernor:
    """Chooses torch's thread count per step between 1 and `most` (the process default).

    period: steps between tries of the other count (doubled after each losing try, up to
    max_period); probe: steps of a try (its first is a warm-up and not counted); a try wins
    when its median time per lane is below margin x the settled median, with margin_down for
    a try of one thread (a busy machine makes it ~3x faster: a clear win; step times on a
    shared machine swing by 20%, so noise must not pull a quiet process down) and margin_up
    for a try of the full count.
    """

    def __init__(self, most: int, period: int = 64, probe: int = 6, margin_down: float = 0.8,
                 margin_up: float = 0.95, max_period: int = 256) -> None:
        self.most = max(1, int(most))
        self.base_period, self.max_period = period, max_period
        self.probe_len, self.margin_down, self.margin_up = max(2, probe), margin_down, margin_up
        self.current = self.most
        self.period = period
        self.until_probe = period
        self.recent: deque[float] = deque(maxlen=16)
        self.trial: list[float] | None = None
        self.slow_streak = 0
        self.switches = 0

    @property
    def active(self) -> bool:
        return self.most > 1

    def _alternative(self) -> int:
        return 1 if self.current > 1 else self.most

    def threads_for_next_step(self) -> int:
        return self._alternative() if self.trial is not None else self.current

    @contextmanager
    def step(self, lanes: int) -> Iterator[None]:
        """Time one batched step of `lanes` lanes at the count the governor picks."""
        if not self.active:
            yield
            return
        n = self.threads_for_next_step()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        t0 = time.perf_counter()
        yield
        self._record((time.perf_counter() - t0) / max(1, lanes))

    def _record(self, dt: float) -> None:
        if self.trial is not None:
            self.trial.append(dt)
            if len(self.trial) > self.probe_len:  # the first step of a try is a warm-up
                self._decide(statistics.median(self.trial[1:]))
            return
        if len(self.recent) >= 8 and dt > 1.5 * statistics.median(self.recent):
            self.slow_streak += 1  # something else took the cores: try the other count now
        else:
            self.slow_streak = 0
        self.recent.append(dt)
        self.until_probe -= 1
        if self.until_probe <= 0 or self.slow_streak >= 3:
            self.trial = []
            self.slow_streak = 0

    def _decide(self, trial_median: float) -> None:
        settled = statistics.median(self.recent) if self.recent else float("inf")
        assert self.trial is not None
        margin = self.margin_down if self._alternative() < self.current else self.margin_up
        if trial_median < margin * settled:
            self.current = self._alternative()
            self.recent = deque(self.trial[1:], maxlen=16)
            self.period = self.base_period
            self.switches += 1
        else:
            self.period = min(self.period * 2, self.max_period)
        self.trial = None
        self.until_probe = self.period


_PROCESS: ThreadGovernor | None = None
_PROCESS_PID: int | None = None


def process_governor() -> ThreadGovernor:
    """The process's governor (torch's thread count is per process): up to torch's default
    count (OMP_NUM_THREADS, else the cores), never more than the CPUs this process may use.
    A forked child gets its own."""
    global _PROCESS, _PROCESS_PID
    if _PROCESS is None or _PROCESS_PID != os.getpid():
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            cpus = os.cpu_count() or 1
        _PROCESS, _PROCESS_PID = ThreadGovernor(min(torch.get_num_threads(), cpus)), os.getpid()
    return _PROCESS
