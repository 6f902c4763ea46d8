"""Which implementation of the warp runs: the compiled numba kernels or the torch reference.

One rule for forward_warp, finish_splat and warp_view. The numba kernels (splat_numba,
view_numba) are the CPU path: numba is a dependency, so they are always there. The torch
implementations are the reference and the path for every other device; they also run
where the kernels cannot stand in: a tensor that requires grad (the kernels are not
differentiable). INSPATIO_GYM_TORCH_WARP=1 (read at import) forces the torch path
everywhere, for comparisons and debugging.
"""

from __future__ import annotations

import os

import torch

__all__ = ["TORCH_ONLY", "use_numba"]

#: INSPATIO_GYM_TORCH_WARP=1: the torch reference everywhere.
TORCH_ONLY = os.environ.get("INSPATIO_GYM_TORCH_WARP", "") == "1"


def use_numba(*inputs: object) -> bool:
    """True when the numba kernels run for these inputs: not forced off, and every tensor
    among them is on the CPU and needs no gradient (arrays and None do not count)."""
    if TORCH_ONLY:
        return False
    for t in inputs:
        if isinstance(t, torch.Tensor) and (not t.is_cpu or t.requires_grad):
            return False
    return True
