"""Lanes of a batch split across threads, each running a compiled nogil kernel.

numba's own parallel launch was the bottleneck here: with its fork-safe 'workqueue'
layer the calling thread sleeps while pool threads are woken, which on this 2-vCPU VM cost
about a millisecond per call inside the env loop; here the caller does one share of the
lanes itself and a Python worker thread the rest (the kernels release the GIL).
`benchmarks/bench_vector.py` prints the gain over one thread at 16 envs. numba's 'omp'
layer is about as fast but GNU OpenMP terminates forked children that use it. Here the pool belongs to the process that made it: a forked child builds
its own on first use, so fork-based vector envs are safe, and any number of threads may
call at once.

The count is fixed (INSPATIO_GYM_THREADS, else the CPUs), not governed by the load as the
generator's torch threads are (backends.threads): these threads never spin at a barrier, so
a busy process on the same cores costs them no more than it costs one thread
(benchmarks/bench_lane_threads.py); several env processes on the same cores do a little
better at one each, which the RLlib creator sets in its runners.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

__all__ = ["num_threads", "run_lanes", "run_parts"]

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def num_threads() -> int:
    """Threads a batch is split across: INSPATIO_GYM_THREADS, else the CPUs this process may use."""
    env = os.environ.get("INSPATIO_GYM_THREADS", "")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"INSPATIO_GYM_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"INSPATIO_GYM_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's pool, with at least `workers` threads (grown, never shrunk per call)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < workers:
            # a forked child inherits the object but not its threads: make a new one
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inspatio-lanes")
            _pool_pid = os.getpid()
        return _pool


_checked: set[int] = set()
_told = False


def _note_first_compile(kernel: Callable[..., None]) -> None:
    """Before a kernel's first call in this process: if numba has it neither compiled nor in
    its disk cache, say that the wait is a one-time compile (the first run in a fresh
    environment compiles every warp kernel, about 20 s on 2 cores; later runs load them)."""
    global _told
    _checked.add(id(kernel))
    if _told or getattr(kernel, "signatures", True):
        return
    try:
        cached = os.path.exists(kernel._cache._cache_file._index_path)  # type: ignore[attr-defined]
    except AttributeError:  # not a caching numba dispatcher (or numba's internals moved)
        return
    if not cached:
        _told = True
        print("inspatio_gym: compiling the warp's kernels once (about 20 s on 2 cores); later runs load them "
              "from numba's cache", file=sys.stderr, flush=True)


def run_lanes(kernel: Callable[..., None], args: Sequence, lane_args: Sequence[int], lanes: int,
              min_lanes_per_thread: int = 2) -> None:
    """kernel(*args) over `lanes` lanes, in contiguous chunks on up to num_threads() threads.

    lane_args: positions in args of the arrays whose first axis is the lane (sliced per
    chunk); the other arguments are passed whole. The kernel must write only its own
    lanes' outputs and release the GIL; the calling thread runs the first chunk.
    """
    if id(kernel) not in _checked:
        _note_first_compile(kernel)
    n = lanes // max(1, min_lanes_per_thread)
    if n > 1:  # (a single env's step does not even look the thread count up)
        n = min(num_threads(), n)
    if n <= 1:
        kernel(*args)
        return
    bounds = [lanes * k // n for k in range(n + 1)]
    sliced = set(lane_args)

    def chunk(k: int) -> list:
        lo, hi = bounds[k], bounds[k + 1]
        return [a[lo:hi] if i in sliced else a for i, a in enumerate(args)]

    run_parts(kernel, [chunk(k) for k in range(n)])


def run_parts(kernel: Callable[..., None], parts: Sequence[Sequence]) -> None:
    """kernel(*args) for each args in parts, at once: the first on the calling thread, the
    others on the pool (run_lanes' chunks of lanes, or one lane's work split in parts); each
    part writes only its own outputs, and the kernel must release the GIL."""
    if id(kernel) not in _checked:
        _note_first_compile(kernel)
    if len(parts) <= 1:
        for p in parts:
            kernel(*p)
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(kernel, *p) for p in parts[1:]]
    try:
        kernel(*parts[0])
    finally:
        for f in futures:
            f.result()
