"""The causal student's weights in and out: the causal and distill stages start it from a
teacher export or a STAR checkpoint, and export it as a STAR checkpoint backend="star" loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...model.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from ...model.dit import CausalDiT
from ...model.generator import StarGenerator
from ..pipeline.clip_model_file import FORMAT as CLIP_MODEL_FORMAT
from ..pipeline.clip_model_file import load_clip_model
from .generator_base import GeneratorStage

__all__ = ["export_star", "init_student"]


def init_student(stage: GeneratorStage, path: str) -> CausalDiT:
    """A student of the stage's model config with the weights of path: a teacher export (same
    transformer; its RoPE tables are not weights) or a STAR checkpoint (its transformer).
    Seeded by the run's seed first, so what path does not set follows the run."""
    torch.manual_seed(stage.cfg.seed)
    student = CausalDiT(stage.gcfg)
    if not path:
        return student
    meta = read_metadata(path, generator=False)
    stage.check_compatible({k: v for k, v in meta.items() if k != "frames"}, path, "init")
    if meta.get("format") == CLIP_MODEL_FORMAT:
        model, _ = load_clip_model(path)
        student.load_state_dict(model.state_dict())
    else:
        _, state, _ = load_checkpoint(path)
        student.load_state_dict({k[len("dit."):]: v for k, v in state.items() if k.startswith("dit.")})
    return student


def export_star(path: Path, stage: GeneratorStage, dit: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """A STAR checkpoint: the frozen VAE and the trained causal transformer."""
    gen = StarGenerator(stage.gcfg)
    gen.vae.load_state_dict(stage.vae.state_dict())
    gen.dit.load_state_dict(dit.state_dict())
    return save_checkpoint(path, gen, stage.gcfg, {"stage": stage.cfg.stage, "vae": stage.cfg.vae, **meta})
