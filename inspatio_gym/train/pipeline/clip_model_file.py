"""Clip-model files: what the teacher stage exports and the causal and distill stages load.

The transformer's weights, with the model config and the clip length in the metadata (a
clip model's RoPE tables depend on it); safetensors, written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ...io.atomic import atomic_path
from ...model.checkpoint import read_metadata
from ...model.config import GeneratorConfig
from ...model.dit import CausalDiT
from .clip_model import new_clip_model

__all__ = ["FORMAT", "load_clip_model", "save_clip_model"]

FORMAT = "inspatio_gym.clip_model"


def save_clip_model(path: Path, model: CausalDiT, cfg: GeneratorConfig, frames: int, extra: dict) -> Path:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    md = {"format": FORMAT, "config": cfg.to_json(), "frames": str(frames),
          **{k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()}}
    with atomic_path(path, ".tmp") as tmp:
        save_file(tensors, tmp, metadata=md)
    return path


def load_clip_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[CausalDiT, dict[str, str]]:
    """A teacher exported by the teacher stage, frozen, with its metadata."""
    meta = read_metadata(path, generator=False)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a teacher exported by the teacher stage (format {meta.get('format')!r})")
    cfg = GeneratorConfig.from_json(meta["config"])
    model = new_clip_model(cfg, int(meta["frames"]))
    with safe_open(str(path), framework="pt") as f:
        model.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
    return model.eval().requires_grad_(False).to(device), meta
