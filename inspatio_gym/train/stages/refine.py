"""Stage "refine": the full-resolution refiner learns to join the generator's frame to the warp.

The generator (VAE + causal DiT of a STAR checkpoint, `init`) is frozen. Each clip of a
fixed training set is rendered once (synthetic multi-view pairs, real novel views from
multi-view scenes, real clips by double reprojection) and generated once, by the
generator's own causal rollout as at inference (its own history, the decoder's memory
warmed with the start frame). The refiner (model.refine) then learns, frame by frame, to
correct the warp's filled image in the holes toward the truth: L1 + MSE over hole pixels,
horizontal flips as augmentation. Its last layer starts at zero, so the run starts at the
warp baseline and the loss is the anchor: regression toward the truth, nothing to drift.
The export is the STAR checkpoint with the refiner (config refine = channels).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...model.checkpoint import load_checkpoint, save_checkpoint
from ...model.config import CONFIGS, GeneratorConfig
from ...model.generator import StarGenerator
from ...model.refine import Refiner
from ..config import RefineConfig
from ..data.latents import encode_pairs, load_vae
from ..data.pair_sources import GeneratorData
from ..data.seeds import DATA_SET, FIXED_SAMPLES, batch_rng
from ..pipeline.unroll import Unroll
from ..trainer.optim import adamw, optimizer_step

__all__ = ["RefineStage", "RefineFrames"]

_CHUNK = 8  # clips rendered and generated together (clip i's content depends on its chunk only)


@dataclasses.dataclass
class RefineFrames:
    """Frames for the refiner, images uint8 [N, 3, H, W] (as the env quantises them)."""

    render: torch.Tensor
    fill: torch.Tensor
    mask: torch.Tensor  # bool [N, 1, H, W]
    generated: torch.Tensor
    target: torch.Tensor

    def pm1(self, name: str, i: int | slice = slice(None)) -> torch.Tensor:
        """Images `name` (rows i) in [-1, 1]."""
        return getattr(self, name)[i].float().div(127.5).sub(1.0)


def _swap_vae(base: GeneratorConfig, state: dict[str, torch.Tensor], path: str,
              size: int) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """The generator with the aligned VAE at `path` in place of its own (config and weights).

    The aligned VAE kept the latent statistics of the VAE it adopted; equal statistics are
    the check that it adopted this generator's latent space and not another's.
    """
    vae = load_vae(path)
    own = {k[len("vae."):]: v for k, v in state.items() if k.startswith("vae.")}
    if not all(torch.equal(vae.state_dict()[k], own[k]) for k in ("latent_mean", "latent_std")):
        raise ValueError(f"vae {path!r} was not aligned to this generator's VAE (its latent statistics differ); "
                         "train it with the vae stage's 'align' set to the VAE export of init's chain")
    state = {k: v for k, v in state.items() if not k.startswith("vae.")}
    state.update({f"vae.{k}": v for k, v in vae.state_dict().items()})
    return dataclasses.replace(base, height=size, width=size, vae=vae.config), state


def _u8(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class RefineStage:
    def __init__(self, cfg: RefineConfig, device: str = "cpu") -> None:
        if not cfg.init:
            raise ValueError("stage 'refine' needs a STAR checkpoint to refine (config key 'init')")
        self.cfg = cfg
        self.device = torch.device(device)
        gcfg, state, _ = load_checkpoint(cfg.init)
        state = {k: v for k, v in state.items() if not k.startswith("refiner.")}
        base = dataclasses.replace(gcfg, refine=0)
        if cfg.vae:
            base, state = _swap_vae(base, state, cfg.vae, cfg.size)
        if base != CONFIGS[cfg.model]:
            raise ValueError(f"init {cfg.init!r} has model config {base}, this run refines {cfg.model!r}: "
                             f"{CONFIGS[cfg.model]}")
        self.gen = StarGenerator(base)
        self.gen.load_state_dict(state)
        self.gen.eval().requires_grad_(False).to(self.device)
        self.gcfg = dataclasses.replace(base, refine=cfg.channels)
        self.data = GeneratorData(cfg.size, cfg.clip_frames, base.ref_window, cfg.real, cfg.real_fraction)
        torch.manual_seed(cfg.seed)
        self.refiner = Refiner(cfg.channels)
        self.opt = adamw(self.refiner.parameters(), cfg.lr, cfg.betas, cfg.weight_decay)
        self._chunks: dict[int, RefineFrames] = {}
        self._fixed: RefineFrames | None = None

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.refiner}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    @torch.no_grad()
    def generate(self, pairs, seed: int) -> RefineFrames:
        """The frozen generator's rollout of a batch of pair clips, as the env runs it."""
        gen, gcfg = self.gen, self.gen.cfg
        lat = encode_pairs(gen.vae, pairs, self.device)
        sigmas = gcfg.sampler.sigmas()
        g = torch.Generator().manual_seed(int(seed) % 2**63)
        eps = torch.randn((lat.frames, len(sigmas), *lat.target[:, 0].shape), generator=g)
        x0 = Unroll(gen.dit, gcfg).generate(lat.reference, lat.render, lat.mask,
                                            lambda t, k: eps[t, k].to(self.device), sigmas)
        w = gcfg.ref_window  # the decoder's memory starts with the episode's start frame, as at reset
        rgb = gen.vae.decode(torch.cat([lat.reference[:, w : w + 1], x0], 1))[:, 1:].clamp(-1, 1).cpu()
        flat = lambda x: x.flatten(0, 1)  # noqa: E731  [B, T, ...] -> [B*T, ...]
        return RefineFrames(render=_u8(flat(pairs.render)), fill=_u8(flat(pairs.fill)), mask=flat(pairs.mask) > 0.5,
                            generated=_u8(flat(rgb)), target=_u8(flat(pairs.target)))

    def chunk(self, k: int) -> RefineFrames:
        """Chunk k of the fixed training set: clips k*_CHUNK.. (built on first use)."""
        if k not in self._chunks:
            from ..data.pairs import PairBatch

            clips = [self.data.sample_one(batch_rng(self.cfg.seed, DATA_SET + i))
                     for i in range(k * _CHUNK, min(self.cfg.data_clips, (k + 1) * _CHUNK))]
            pairs = PairBatch(*(torch.cat(x) for x in zip(*(vars(p).values() for p in clips))))
            self._chunks[k] = self.generate(pairs, self.cfg.seed * 1_000_003 + k)
        return self._chunks[k]

    def batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        T = self.cfg.clip_frames
        clips = rng.integers(self.cfg.data_clips, size=self.cfg.batch)
        frames = rng.integers(T, size=self.cfg.batch)
        flip = rng.random(self.cfg.batch) < 0.5
        parts = []
        for c, t, f in zip(clips, frames, flip):
            ch = self.chunk(int(c) // _CHUNK)
            i = (int(c) % _CHUNK) * T + int(t)
            item = [ch.pm1(n, i) if n != "mask" else ch.mask[i].float() for n in
                    ("render", "fill", "mask", "generated", "target")]
            parts.append([x.flip(-1) if f else x for x in item])
        return tuple(torch.stack(x).to(self.device) for x in zip(*parts))

    def loss(self, out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        holes = (mask < 0.5).expand_as(out)
        n = holes.sum().clamp_min(1)
        err = (out - target)[holes]
        l1, mse = err.abs().sum() / n, (err**2).sum() / n
        w = self.cfg.loss
        return w.get("l1", 0.0) * l1 + w.get("mse", 0.0) * mse, {"l1_holes": float(l1.detach()), "mse_holes": float(mse.detach())}

    def step(self, batch: tuple[torch.Tensor, ...], trained: torch.nn.Module) -> dict[str, float]:
        render, fill, mask, generated, target = batch
        out = trained(render, fill, mask, generated)
        loss, scalars = self.loss(out, target, mask)
        with torch.no_grad():
            _, base = self.loss(fill, target, mask)
        gn = optimizer_step(self.opt, loss, average=False, grad_clip=self.cfg.grad_clip)
        psnr = lambda m: float(10 * np.log10(4.0 / max(m, 1e-10)))  # noqa: E731  [-1, 1] images
        return {"loss": float(loss.detach()), **scalars, "psnr_holes": psnr(scalars["mse_holes"]),
                "psnr_holes_warp": psnr(base["mse_holes"]), "grad_norm": gn}

    @torch.no_grad()
    def samples(self, model: torch.nn.Module) -> torch.Tensor:
        """Columns: fixed frames; rows: warp fill, generated, refined, truth."""
        model.eval()
        if self._fixed is None:
            self._fixed = self.generate(self.data.sample(3, batch_rng(self.cfg.seed, FIXED_SAMPLES)), FIXED_SAMPLES)
        f = self._fixed
        out = model(f.pm1("render").to(self.device), f.pm1("fill").to(self.device), f.mask.float().to(self.device),
                    f.pm1("generated").to(self.device)).cpu()
        rows = [f.pm1("fill"), f.pm1("generated"), out, f.pm1("target")]
        img = torch.cat([torch.cat(list(r), dim=-1) for r in rows], dim=-2)
        return (img + 1) / 2

    def export(self, model: torch.nn.Module, out: Path, meta: dict[str, Any]) -> Path:
        """The STAR checkpoint: the frozen generator and the trained refiner."""
        full = StarGenerator(self.gcfg)
        full.vae.load_state_dict(self.gen.vae.state_dict())
        full.dit.load_state_dict(self.gen.dit.state_dict())
        full.refiner.load_state_dict(model.state_dict())
        return save_checkpoint(out / "star.safetensors", full, self.gcfg,
                               {"stage": "refine", "init": self.cfg.init, **meta})

