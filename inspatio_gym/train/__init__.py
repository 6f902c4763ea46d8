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
    raise ValueError(f"unknown stage {cfg.stage!r}")
