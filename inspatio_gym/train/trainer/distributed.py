"""Rank and world size from torchrun's environment, and the process group when world > 1
(gloo on the CPU, NCCL on GPUs)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Dist"]


class Dist:
    """Rank and world size from torchrun's environment; a process group when world > 1."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(device if device != "cuda" else f"cuda:{self.local}")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            # a rank that dies must not leave the others waiting forever in a collective
            timeout = timedelta(seconds=float(os.environ.get("INSPATIO_GYM_DIST_TIMEOUT", "1800")))
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", timeout=timeout)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's value on every rank."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def any(self, flag: bool) -> bool:
        """Whether flag is true on any rank: a decision to stop must be every rank's, or the
        others would wait in the next collective."""
        if self.world == 1:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            time.sleep(0.05)  # let gloo's threads release finished work (they need the GIL)
            dist.destroy_process_group()
