"""STAR generation over a clip as a differentiable function: what the causal and distill stages run.

`StarGenerator.step` is the inference path (caches, streams, no autograd). This is the same
computation written for training: the same RoPE slots, the same context layout (reference
window, history oldest first, current frame), the same flow steps and the same write pass at
sigma = 0, with tensors kept in lists so gradients can flow where a stage wants them. A test
checks that both give the same frames.

Conventions: ref [B, T + 2w, C, h, w] are the reference latents (frame t's window is entries
t..t+2w), render [B, T, C, h, w] and mask [B, T, 1, h, w] the condition. The episode starts
with every history entry holding reference entry w (the first frame's time-aligned view),
as `StarGenerator.reset_sessions` fills it.
"""

from __future__ import annotations

from typing import Callable

import torch

from ...model.config import GeneratorConfig
from ...model.dit import CausalDiT

__all__ = ["Unroll"]

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (k_raw, v) [B, heads, N, dh]


class Unroll:
    def __init__(self, dit: CausalDiT, cfg: GeneratorConfig) -> None:
        self.dit, self.cfg = dit, cfg
        self.ref_slots, self.hist_slots, self.current_slot = cfg.ref_slots, cfg.hist_slots, cfg.current_slot

    def clean_kv(self, z: torch.Tensor) -> KV:
        """K/V of clean frames z [B, C, h, w] on their own (reference frames, episode start)."""
        _, kv = self.dit(self.dit.frame_input(z), z.new_zeros(z.shape[0]), 0, None)
        return kv

    def reference_kv(self, ref: torch.Tensor) -> list[KV]:
        """Per reference entry, its K/V: one batched pass over all entries."""
        B, R = ref.shape[:2]
        kv = self.clean_kv(ref.flatten(0, 1))
        return [[(k.unflatten(0, (B, R))[:, r], v.unflatten(0, (B, R))[:, r]) for k, v in kv] for r in range(R)]

    def context(self, refs: list[KV], hist: list[KV]) -> KV:
        """Per layer (K post-RoPE, V) [B, heads, L, dh]: the 2w+1 window, then history oldest first."""
        H = len(hist)
        out = []
        for layer in range(self.cfg.dit.depth):
            ks = [self.dit.rope.apply(refs[o][layer][0], self.ref_slots[o]) for o in range(len(refs))]
            ks += [self.dit.rope.apply(hist[j][layer][0], self.hist_slots[H - j - 1]) for j in range(H)]
            vs = [r[layer][1] for r in refs] + [h[layer][1] for h in hist]
            out.append((torch.cat(ks, 2), torch.cat(vs, 2)))
        return out

    def velocity(self, x: torch.Tensor, sigma: float | torch.Tensor, mask: torch.Tensor, render: torch.Tensor,
                 ctx: KV) -> torch.Tensor:
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return self.dit(self.dit.frame_input(x, mask, render), s, self.current_slot, ctx)[0]

    def write(self, x0: torch.Tensor, ctx: KV) -> KV:
        """The history entry of a finished frame: a pass of the clean latent at sigma = 0."""
        _, kv = self.dit(self.dit.frame_input(x0), x0.new_zeros(x0.shape[0]), self.current_slot, ctx)
        return kv

    def _start(self, ref_kv: list[KV]) -> list[KV]:
        return [ref_kv[self.cfg.ref_window]] * self.cfg.history

    def generate(self, ref: torch.Tensor, render: torch.Tensor, mask: torch.Tensor,
                 noise: Callable[[int, int], torch.Tensor], sigmas: list[float], exit_step: int | None = None,
                 grad: bool = False) -> torch.Tensor:
        """Self-forcing rollout: the clip's latents [B, T, C, h, w], each frame generated on the
        model's own history. Frame t runs the flow steps up to exit_step (default: all) and
        its output is that step's x0; with grad, only the exit step and the reference K/V (the
        window, and the start frame's entry that fills the history at reset) carry gradients;
        generated frames enter the history detached. noise(t, k) is the eps of frame t, step k.
        """
        T = render.shape[1]
        last = len(sigmas) - 1 if exit_step is None else int(exit_step)
        with torch.set_grad_enabled(grad):
            ref_kv = self.reference_kv(ref)
        hist = self._start(ref_kv)
        out = []
        w2 = 2 * self.cfg.ref_window + 1
        for t in range(T):
            with torch.set_grad_enabled(grad):  # built once; the no-grad passes record no graph on it
                ctx = self.context(ref_kv[t : t + w2], hist)
            with torch.no_grad():
                x = noise(t, 0)
                for k in range(last):
                    x0 = x - sigmas[k] * self.velocity(x, sigmas[k], mask[:, t], render[:, t], ctx)
                    x = (1 - sigmas[k + 1]) * x0 + sigmas[k + 1] * noise(t, k + 1)
            with torch.set_grad_enabled(grad):
                x0 = x - sigmas[last] * self.velocity(x, sigmas[last], mask[:, t], render[:, t], ctx)
            out.append(x0)
            if self.cfg.history:
                with torch.no_grad():
                    hist = hist[1:] + [[(k.detach(), v.detach()) for k, v in self.write(x0.detach(), ctx)]]
        return torch.stack(out, 1)

    def predict(self, ref: torch.Tensor, render: torch.Tensor, mask: torch.Tensor, history: torch.Tensor,
                inputs: list[tuple[float, torch.Tensor]]) -> list[torch.Tensor]:
        """Teacher forcing: the history is the given clean latents history [B, T, C, h, w]
        (detached), and for each (sigma, x_sigma [B, T, C, h, w]) in inputs the model's x0
        estimate of every frame [B, T, C, h, w], with gradients."""
        T = render.shape[1]
        ref_kv = self.reference_kv(ref)
        hist = self._start([[(k.detach(), v.detach()) for k, v in kv] for kv in ref_kv])
        w2 = 2 * self.cfg.ref_window + 1
        preds: list[list[torch.Tensor]] = [[] for _ in inputs]
        for t in range(T):
            ctx = self.context(ref_kv[t : t + w2], hist)
            for i, (s, x) in enumerate(inputs):
                preds[i].append(x[:, t] - s * self.velocity(x[:, t], s, mask[:, t], render[:, t], ctx))
            if self.cfg.history and t + 1 < T:
                with torch.no_grad():
                    ctx_d = [(k.detach(), v.detach()) for k, v in ctx]
                    hist = hist[1:] + [self.write(history[:, t], ctx_d)]
        return [torch.stack(p, 1) for p in preds]
