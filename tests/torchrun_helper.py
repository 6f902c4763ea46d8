"""Run the unchanged training command under torchrun with 2 CPU processes (gloo), safely."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile

import pytest


def run_torchrun(args: list[str], timeout: float) -> None:
    """`inspatio-gym <args>` on 2 processes; fails the test on a non-zero exit or a hang (the
    whole process group is killed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="inspatio-torchrun-") as tmp:  # torchrun leaves its log folder there
        _run(args, timeout, port, tmp)


def _run(args: list[str], timeout: float, port: int, tmp: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "INSPATIO_GYM_DIST_TIMEOUT": "120",
           "TMPDIR": tmp}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "-m", "inspatio_gym.cli", *args, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own process group: a hang is killed whole
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"torchrun with 2 processes did not finish within {timeout} s: {' '.join(args)}")
    assert proc.returncode == 0, err[-2000:]


__all__ = ["run_torchrun"]
