"""Stage "distill": self-forcing with Joint Distribution Matching Distillation (JDMD).

Each step the causal student generates clips on its own history (self-forcing: a random
exit step, gradient only there, history detached, the cache written at sigma = 0 after each
frame). The clip is noised to a random shifted level and scored by the frozen teachers
(control: synthetic; fidelity: real) and by a fake-score critic that tracks the student's own
distribution; the student moves along

    g = sum_i lambda_i (x̂_fake - x̂_real_i) / mean|x - x̂_real_i|

(`pipeline.dmd.jdmd_gradient`). The critic is trained by flow matching on fresh student clips,
critic_steps times per student update. Both use AdamW with betas (0, 0.999) as DMD does.
The export is a STAR checkpoint of the student's EMA weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...model.dit import CausalDiT
from ..config import DistillConfig
from ..data.latents import LatentClips
from ..pipeline.clip_model import clip_x0, flow_matching_loss, new_clip_model
from ..pipeline.clip_model_file import load_clip_model
from ..pipeline.dmd import dmd_loss, jdmd_gradient, shifted_sigma
from ..pipeline.unroll import Unroll
from ..trainer.optim import adamw, optimizer_step
from .generator_base import GeneratorStage
from .student import export_star, init_student

__all__ = ["DistillStage"]


class DistillStage(GeneratorStage):
    ddp = False  # student and critic run many passes per step: gradients are averaged by hand
    cfg: DistillConfig
    betas = (0.0, 0.999)  # DMD's AdamW betas, for student and critic

    def __init__(self, cfg: DistillConfig, device: str = "cpu") -> None:
        super().__init__(cfg, device)
        if not cfg.init:
            raise ValueError("stage 'distill' starts from the causal stage's export (config key 'init')")
        self.teachers: dict[str, tuple[CausalDiT, float]] = {}
        for name, path in (("synthetic", cfg.teacher_synthetic), ("real", cfg.teacher_real)):
            weight = float(cfg.jdmd.get(name, 0.0))
            if weight == 0:
                continue
            if not path:
                raise ValueError(f"jdmd weight {weight} for the {name} teacher but no config key 'teacher_{name}'")
            model, meta = load_clip_model(path, self.device)
            self.check_compatible(meta, path, f"{name} teacher")
            self.teachers[name] = (model, weight)
        if not self.teachers:
            raise ValueError("JDMD needs at least one teacher with a non-zero weight")
        self.student = init_student(self, cfg.init)
        # the critic starts as the control teacher (or the only one): fake = real at step 0
        first = self.teachers.get("synthetic", next(iter(self.teachers.values())))[0]
        self.critic = new_clip_model(self.gcfg, cfg.clip_frames)
        self.critic.load_state_dict(first.state_dict())
        self.critic.requires_grad_(True)
        self.opt = adamw(self.student.parameters(), cfg.lr, self.betas, cfg.weight_decay)
        self.critic_opt = adamw(self.critic.parameters(), cfg.critic_lr or cfg.lr, self.betas, cfg.weight_decay)
        self.sigmas = self.gcfg.sampler.sigmas()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.student, "critic": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt, "critic": self.critic_opt}

    def _rollout(self, lat: LatentClips, grad: bool) -> tuple[torch.Tensor, int]:
        exit_step = int(torch.randint(len(self.sigmas), ()))
        shape = lat.target[:, 0].shape
        x = Unroll(self.student, self.gcfg).generate(lat.reference, lat.render, lat.mask,
                                                     lambda t, k: torch.randn(shape, device=lat.target.device),
                                                     self.sigmas, exit_step=exit_step, grad=grad)
        return x, exit_step

    def step(self, lat: LatentClips, trained: torch.nn.Module) -> dict[str, float]:
        out: dict[str, float] = {}
        # the fake score follows the student's current distribution
        self.student.eval()
        for _ in range(self.cfg.critic_steps):
            with torch.no_grad():
                x, _ = self._rollout(lat, grad=False)
            loss, sc = flow_matching_loss(self.critic, lat, x, self.cfg.sigma_shift)
            optimizer_step(self.critic_opt, loss, average=True, grad_clip=self.cfg.grad_clip)
            out["critic_flow_mse"] = sc["flow_mse"]
        # the student moves toward the teachers' distributions
        self.student.train()
        x, exit_step = self._rollout(lat, grad=True)
        B = x.shape[0]
        # DMD's levels follow the sampler's shift (the teachers and critic trained on sigma_shift;
        # both spans cover (0, 1)); this is the recipe the shipped checkpoint was made with
        sigma = shifted_sigma(torch.rand(B, device=x.device) * 0.96 + 0.02, self.gcfg.sampler.shift)
        s = sigma.view(-1, 1, 1, 1, 1)
        with torch.no_grad():
            x_t = (1 - s) * x.detach() + s * torch.randn_like(x)
            fake = clip_x0(self.critic, lat, x_t, sigma)
            real = {name: (clip_x0(m, lat, x_t, sigma), w) for name, (m, w) in self.teachers.items()}
            g, mags = jdmd_gradient(x.detach(), fake, real)
        loss = dmd_loss(x, g)
        out["grad_norm"] = optimizer_step(self.opt, loss, average=True, grad_clip=self.cfg.grad_clip)
        out.update({"dmd_loss": float(loss.detach()), "exit_step": float(exit_step),
                    "target_mse": float((x.detach() - lat.target).square().mean())})
        out.update({f"g_{k}": v for k, v in mags.items()})
        return out

    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        return self.student_samples(model)  # type: ignore[arg-type]

    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        weights = {k: w for k, (_, w) in self.teachers.items()}
        return export_star(out / "star.safetensors", self, model, {"jdmd": weights, **meta})
