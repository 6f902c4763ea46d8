"""The five training stages, in chain order: vae, teacher, causal, distill, refine (each a module).

The generator stages are imported on demand: the vae stage needs none of their data stack.
"""

from __future__ import annotations

from typing import Any

from ..config import RunConfig

__all__ = ["make_stage"]


def make_stage(cfg: RunConfig, device: str = "cpu") -> Any:
    """The stage object a config names."""
    if cfg.stage == "vae":
        from .vae import VAEStage

        return VAEStage(cfg, device)  # type: ignore[arg-type]
    if cfg.stage == "teacher":
        from .teacher import TeacherStage

        return TeacherStage(cfg, device)  # type: ignore[arg-type]
    if cfg.stage == "causal":
        from .causal import CausalStage

        return CausalStage(cfg, device)  # type: ignore[arg-type]
    if cfg.stage == "distill":
        from .distill import DistillStage

        return DistillStage(cfg, device)  # type: ignore[arg-type]
    if cfg.stage == "refine":
        from .refine import RefineStage

        return RefineStage(cfg, device)  # type: ignore[arg-type]
    raise ValueError(f"unknown stage {cfg.stage!r}")
