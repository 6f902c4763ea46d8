"""Stage "teacher": a bidirectional clip model trained by flow matching on condition pairs.

With synthetic pairs (real_fraction = 0) it is the control teacher: it learns how views
move, including what appears in disocclusions. With real clips (real_fraction = 1) it is the
fidelity teacher: it learns what real frames look like. Both see the condition exactly as
the causal generator will (render, mask, reference window; see `pipeline.clip_model`). The export is
teacher.safetensors, which the causal and distill stages load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import TeacherConfig
from ..data.latents import LatentClips
from ..data.seeds import FIXED_SAMPLES
from ..pipeline.clip_model import clip_ode, flow_matching_loss, new_clip_model
from ..pipeline.clip_model_file import load_clip_model, save_clip_model
from ..trainer.optim import adamw, optimizer_step
from .generator_base import GeneratorStage

__all__ = ["TeacherStage"]


class TeacherStage(GeneratorStage):
    ddp = False  # the clip pass is not DDP's forward: gradients are averaged by hand
    cfg: TeacherConfig

    def __init__(self, cfg: TeacherConfig, device: str = "cpu") -> None:
        super().__init__(cfg, device)
        torch.manual_seed(cfg.seed)
        self.model = new_clip_model(self.gcfg, cfg.clip_frames)
        if cfg.init:  # e.g. the fidelity teacher starts from the control teacher
            init, meta = load_clip_model(cfg.init)
            self.check_compatible(meta, cfg.init, "init")
            self.model.load_state_dict(init.state_dict())
        self.opt = adamw(self.model.parameters(), cfg.lr, cfg.betas, cfg.weight_decay)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def step(self, lat: LatentClips, trained: torch.nn.Module) -> dict[str, float]:
        loss, scalars = flow_matching_loss(self.model, lat, lat.target, self.cfg.sigma_shift)
        scalars["grad_norm"] = optimizer_step(self.opt, loss, average=True, grad_clip=self.cfg.grad_clip)
        return scalars

    @torch.no_grad()
    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        model.eval()
        lat = self.fixed()
        g = torch.Generator().manual_seed(FIXED_SAMPLES % 2**31)
        noise = torch.randn(lat.target.shape, generator=g).to(lat.target.device)
        x0, _ = clip_ode(model, lat, noise, self.cfg.ode_steps, self.gcfg.sampler.shift)  # type: ignore[arg-type]
        return self.grid(lat, x0)

    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        kind = "real" if self.cfg.real_fraction >= 1 else ("synthetic" if self.cfg.real_fraction == 0 else "mixed")
        return save_clip_model(out / "teacher.safetensors", model, self.gcfg, self.cfg.clip_frames,  # type: ignore[arg-type]
                               {"teacher": kind, "vae": self.cfg.vae, "init": self.cfg.init, **meta})
