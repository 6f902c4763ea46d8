"""What the generator stages (teacher, causal, distill) share: config checks, the frozen VAE,
the pair data, a fixed sample batch and the grid image every stage's samples are drawn into."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..model.config import CONFIGS, GeneratorConfig
from ..model.dit import CausalDiT
from ..model.unroll import Unroll
from .config import RunConfig
from .data import FIXED_SAMPLES, batch_rng
from .latents import GeneratorData, LatentClips, encode_pairs, load_vae, stack_clips

#: "Steps" of the clips of a fixed training set (data_clips), outside any run's step range.
DATA_SET = 2**41

__all__ = ["GeneratorStageBase", "allreduce_grads", "clip_grads"]


def allreduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Average gradients over ranks (what DDP does), for modules run several times per step."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    i = 0
    for g in grads:
        g.copy_(flat[i : i + g.numel()].view_as(g))
        i += g.numel()


def clip_grads(params, max_norm: float) -> float:
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(list(params), max_norm))
    return 0.0


class GeneratorStageBase:
    """Config checks, the frozen VAE, the data and a fixed batch for sample images."""

    samples_batch = 3

    def __init__(self, cfg: RunConfig, device: str = "cpu") -> None:
        if cfg.model not in CONFIGS:
            raise ValueError(f"unknown model config {cfg.model!r}; known: {sorted(CONFIGS)}")
        self.cfg = cfg
        self.gcfg: GeneratorConfig = CONFIGS[cfg.model]
        if cfg.size != self.gcfg.height or cfg.size != self.gcfg.width:
            raise ValueError(f"size {cfg.size} must match model {cfg.model!r} ({self.gcfg.width}x{self.gcfg.height})")
        if not cfg.vae:
            raise ValueError(f"stage {cfg.stage!r} needs the vae stage's export (config key 'vae')")
        # the stage is built before the loop picks this rank's GPU: use torchrun's LOCAL_RANK too
        self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if device == "cuda" else device)
        self.vae = load_vae(cfg.vae, self.device)
        if self.vae.config != self.gcfg.vae:
            raise ValueError(f"the VAE in {cfg.vae!r} has config {self.vae.config}, model {cfg.model!r} needs "
                             f"{self.gcfg.vae}")
        if self.gcfg.dit.plucker:
            raise ValueError(f"model {cfg.model!r} is camera-conditioned (plucker=True); the training stages do "
                             "not feed Plücker rays yet")
        self.data = GeneratorData(cfg.size, cfg.clip_frames, self.gcfg.ref_window, cfg.real, cfg.real_fraction)
        self._fixed: LatentClips | None = None
        self._clips: dict[int, LatentClips] = {}

    def check_compatible(self, meta: dict[str, str], path: str, what: str) -> None:
        """A loaded teacher / initial model must be of this run's model config and clip length."""
        cfg = GeneratorConfig.from_json(meta["config"]) if "config" in meta else None
        if cfg != self.gcfg:
            raise ValueError(f"{what} {path!r} has model config {cfg}, this run trains {self.cfg.model!r}: {self.gcfg}")
        if "frames" in meta and int(meta["frames"]) != self.cfg.clip_frames:
            raise ValueError(f"{what} {path!r} was trained on {meta['frames']}-frame clips, clip_frames is "
                             f"{self.cfg.clip_frames}")

    def latents(self, rng) -> LatentClips:
        """A batch: fresh clips, or with data_clips > 0 clips of a fixed training set. Clip i of
        the set is a function of (seed, i) alone and is built on first use, so a resumed or
        distributed run sees the same clips whatever was built before."""
        if not self.cfg.data_clips:
            return encode_pairs(self.vae, self.data.sample(self.cfg.batch, rng), self.vae.latent_mean.device)
        idx = rng.integers(self.cfg.data_clips, size=self.cfg.batch)
        return stack_clips([self.clip(int(i)) for i in idx])

    def clip(self, i: int) -> LatentClips:
        if i not in self._clips:
            pairs = self.data.sample_one(batch_rng(self.cfg.seed, DATA_SET + i))
            lat = encode_pairs(self.vae, pairs, self.vae.latent_mean.device)
            lat.pixels = None
            self._clips[i] = lat
        return self._clips[i]

    def fixed(self) -> LatentClips:
        if self._fixed is None:
            pairs = self.data.sample(self.samples_batch, batch_rng(self.cfg.seed, FIXED_SAMPLES))
            self._fixed = encode_pairs(self.vae, pairs, self.vae.latent_mean.device)
        return self._fixed

    @torch.no_grad()
    def student_samples(self, model: CausalDiT) -> torch.Tensor:
        """The causal student's own rollout of the fixed clips (fixed noise), as a grid."""
        model.eval()
        lat = self.fixed()
        sigmas = self.gcfg.sampler.sigmas()
        g = torch.Generator().manual_seed(FIXED_SAMPLES % 2**31)
        eps = torch.randn((lat.frames, len(sigmas), *lat.target[:, 0].shape), generator=g)
        x0 = Unroll(model, self.gcfg).generate(lat.reference, lat.render, lat.mask,
                                               lambda t, k: eps[t, k].to(lat.target.device), sigmas)
        return self.grid(lat, x0)

    @torch.no_grad()
    def grid(self, lat: LatentClips, x0: torch.Tensor) -> torch.Tensor:
        """Columns: clips; rows: aligned reference, condition, generated, truth (last frame)."""
        gen = self.vae.decode(x0)[:, -1].cpu()
        px = lat.pixels
        T = px.target.shape[1]
        w = (px.reference.shape[1] - T) // 2
        rows = [px.reference[:, w + T - 1], px.render[:, -1], gen, px.target[:, -1]]
        img = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)
        return (img + 1) / 2
