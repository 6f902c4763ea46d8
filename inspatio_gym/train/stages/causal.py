"""Stage "causal": the causal student starts as a regression onto the teacher's ODE.

A bidirectional teacher cannot run frame by frame, so the student (the generator's causal
transformer, initialised from the teacher's weights) first learns to reproduce the teacher's
deterministic flow ODE: from the same noise, at each of the student's few sampling levels,
predict the teacher's clean clip, with the teacher's own clean frames as history (teacher
forcing; CausVid's ODE initialisation). With gt_weight > 0 the same regression also runs on
the true clip (noised with fresh noise, the true frames as history): a small teacher's ODE
is an imperfect target, and the data anchors the student. The export is a complete STAR checkpoint (VAE +
causal transformer) that backend="star" can load, and the start of the distill stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import CausalConfig
from ..data.latents import LatentClips
from ..pipeline.clip_model import clip_ode
from ..pipeline.clip_model_file import load_clip_model
from ..pipeline.unroll import Unroll
from ..trainer.optim import adamw, optimizer_step
from .generator_base import GeneratorStage
from .student import export_star, init_student

__all__ = ["CausalStage"]


class CausalStage(GeneratorStage):
    ddp = False  # the student runs many passes per step: gradients are averaged by hand
    cfg: CausalConfig

    def __init__(self, cfg: CausalConfig, device: str = "cpu") -> None:
        super().__init__(cfg, device)
        teacher = cfg.teacher_synthetic or cfg.init
        if not teacher:
            raise ValueError("stage 'causal' needs a teacher export (config key 'teacher_synthetic' or 'init')")
        self.teacher, meta = load_clip_model(teacher, self.device)
        self.check_compatible(meta, teacher, "teacher")
        self.student = init_student(self, cfg.init)
        self.opt = adamw(self.student.parameters(), cfg.lr, cfg.betas, cfg.weight_decay)
        self.sigmas = self.gcfg.sampler.sigmas()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def batch(self, rng: np.random.Generator) -> tuple[LatentClips, torch.Tensor, list[tuple[float, torch.Tensor]]]:
        lat = self.latents(rng)
        g = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = torch.randn(lat.target.shape, generator=g).to(lat.target.device)
        x0, seen = clip_ode(self.teacher, lat, noise, self.cfg.ode_steps, self.gcfg.sampler.shift, self.sigmas)
        return lat, x0, [(s, seen[s]) for s in self.sigmas]

    def step(self, batch, trained: torch.nn.Module) -> dict[str, float]:
        lat, x0, inputs = batch
        unroll = Unroll(self.student, self.gcfg)
        preds = unroll.predict(lat.reference, lat.render, lat.mask, x0, inputs)
        losses = [F.mse_loss(p, x0) for p in preds]
        loss = sum(losses) / len(losses)
        extra = {}
        if self.cfg.gt_weight > 0:
            x = lat.target
            noisy = [(s, (1 - s) * x + s * torch.randn_like(x)) for s in self.sigmas]
            gt = [F.mse_loss(p, x) for p in unroll.predict(lat.reference, lat.render, lat.mask, x, noisy)]
            gt_loss = sum(gt) / len(gt)
            loss = loss + self.cfg.gt_weight * gt_loss
            extra["gt_mse"] = float(gt_loss.detach())
        gn = optimizer_step(self.opt, loss, average=True, grad_clip=self.cfg.grad_clip)
        out = {"loss": float(loss.detach()), "grad_norm": gn, **extra}
        out.update({f"mse_sigma{s:.3g}": float(v.detach()) for (s, _), v in zip(inputs, losses)})
        return out

    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        return self.student_samples(model)  # type: ignore[arg-type]

    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        return export_star(out / "star.safetensors", self, model, meta)
