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

from ..model.checkpoint import save_checkpoint
from ..model.checkpoint import read_metadata
from ..model.dit import CausalDiT
from ..model.generator import StarGenerator
from ..model.unroll import Unroll
from .clip_model import clip_ode, load_clip_model
from .config import RunConfig
from .generator_common import GeneratorStageBase, allreduce_grads, clip_grads
from .latents import LatentClips

__all__ = ["CausalStage", "export_star", "load_student_init"]


def load_student_init(path: str, student: CausalDiT) -> None:
    """Weights from a teacher export (same transformer; its RoPE tables are not weights) or
    from a STAR checkpoint (its transformer)."""
    meta = read_metadata(path, generator=False)
    if meta.get("format") == "inspatio_gym.clip_model":
        model, _ = load_clip_model(path)
        student.load_state_dict(model.state_dict())
    else:
        from ..model.checkpoint import load_checkpoint

        _, state, _ = load_checkpoint(path)
        student.load_state_dict({k[len("dit."):]: v for k, v in state.items() if k.startswith("dit.")})


def export_star(path: Path, stage: GeneratorStageBase, dit: torch.nn.Module, meta: dict[str, Any]) -> Path:
    """A STAR checkpoint: the frozen VAE and the trained causal transformer."""
    gen = StarGenerator(stage.gcfg)
    gen.vae.load_state_dict(stage.vae.state_dict())
    gen.dit.load_state_dict(dit.state_dict())
    return save_checkpoint(path, gen, stage.gcfg, {"stage": stage.cfg.stage, "vae": stage.cfg.vae, **meta})


class CausalStage(GeneratorStageBase):
    ddp = False  # the student runs many passes per step: gradients are averaged by hand

    def __init__(self, cfg: RunConfig, device: str = "cpu") -> None:
        super().__init__(cfg, device)
        teacher = cfg.teacher_synthetic or cfg.init
        if not teacher:
            raise ValueError("stage 'causal' needs a teacher export (config key 'teacher_synthetic' or 'init')")
        self.teacher, meta = load_clip_model(teacher, self.device)
        self.check_compatible(meta, teacher, "teacher")
        torch.manual_seed(cfg.seed)
        self.student = CausalDiT(self.gcfg)
        if cfg.init:
            self.check_compatible({k: v for k, v in read_metadata(cfg.init, generator=False).items() if k != "frames"},
                                  cfg.init, "init")
            load_student_init(cfg.init, self.student)
        self.opt = torch.optim.AdamW(self.student.parameters(), lr=cfg.lr, betas=cfg.betas,
                                     weight_decay=cfg.weight_decay)
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
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        allreduce_grads(list(self.student.parameters()))
        gn = clip_grads(self.student.parameters(), self.cfg.grad_clip)
        self.opt.step()
        out = {"loss": float(loss.detach()), "grad_norm": gn, **extra}
        out.update({f"mse_sigma{s:.3g}": float(v.detach()) for (s, _), v in zip(inputs, losses)})
        return out

    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        return self.student_samples(model)  # type: ignore[arg-type]

    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        return export_star(out / "star.safetensors", self, model, meta)
