"""Training: data rendered from procedural worlds, stages, and one loop that resumes and runs under torchrun."""

from .config import RunConfig, load_run_config
from .data import HELD_OUT_SEEDS, ProceduralClips
from .loop import train
from .vae_stage import VAEStage

__all__ = ["HELD_OUT_SEEDS", "ProceduralClips", "RunConfig", "VAEStage", "load_run_config", "make_stage", "train"]


def make_stage(cfg: RunConfig, device: str = "cpu"):
    """The stage object a config names."""
    if cfg.stage == "vae":
        return VAEStage(cfg, device)
    if cfg.stage == "teacher":
        from .teacher_stage import TeacherStage

        return TeacherStage(cfg, device)
    if cfg.stage == "causal":
        from .causal_stage import CausalStage

        return CausalStage(cfg, device)
    if cfg.stage == "distill":
        from .distill_stage import DistillStage

        return DistillStage(cfg, device)
    raise ValueError(f"unknown stage {cfg.stage!r}")
