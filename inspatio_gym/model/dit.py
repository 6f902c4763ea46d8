"""The block-causal diffusion transformer of STAR generation (Wan-style blocks).

Each frame is a set of latent patches. A pass runs the tokens of one frame per sample;
they attend to themselves and to a context of cached keys/values (reference frames near
the current time, recent generated frames) supplied per layer. Blocks: AdaLN with six
modulation vectors from the timestep embedding, qk-RMSNorm, 3D RoPE (temporal slot, row,
column), attention through scaled_dot_product_attention, a GELU MLP.

Keys are returned *before* RoPE (``k_raw``) so the cache can rotate them to whichever
temporal slot they will occupy, once, when they are written.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import GeneratorConfig

__all__ = ["CausalDiT", "Rope3D", "timestep_embedding", "dit_flops_per_pass"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps t [B] in [0, 1000] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Rope3D(nn.Module):
    """Rotary position tables for (slot, row, column) over the head dim's pairs.

    The pairs are split between time, rows and columns as in Wan: rows and columns get
    floor(pairs / 3) each, time the rest. The tables are non-persistent buffers: they
    follow the model's device and are not part of checkpoints.
    """

    def __init__(self, head_dim: int, slots: int, rows: int, cols: int, theta: float = 10000.0) -> None:
        super().__init__()
        pairs = head_dim // 2
        n_h = n_w = pairs // 3
        n_t = pairs - n_h - n_w

        def freqs(n: int) -> torch.Tensor:
            return theta ** (-torch.arange(n, dtype=torch.float64) / n)

        t = torch.arange(slots, dtype=torch.float64)[:, None, None]
        y = torch.arange(rows, dtype=torch.float64)[None, :, None]
        x = torch.arange(cols, dtype=torch.float64)[None, None, :]
        ang = torch.cat(
            [
                (t[..., None] * freqs(n_t)).expand(slots, rows, cols, n_t),
                (y[..., None] * freqs(n_h)).expand(slots, rows, cols, n_h),
                (x[..., None] * freqs(n_w)).expand(slots, rows, cols, n_w),
            ],
            dim=-1,
        ).reshape(slots, rows * cols, pairs)
        self.register_buffer("cos", torch.cos(ang).to(torch.float32), persistent=False)  # [slots, N, pairs]
        self.register_buffer("sin", torch.sin(ang).to(torch.float32), persistent=False)

    def apply(self, x: torch.Tensor, slot: int | torch.Tensor) -> torch.Tensor:
        """Rotate x [..., N, head_dim] to temporal slot `slot`; with slots [F] (one per frame)
        x is F frames of N tokens [..., F*N, head_dim]."""
        cos, sin = self.cos[slot], self.sin[slot]
        if cos.dim() == 3:
            cos, sin = cos.flatten(0, 1), sin.flatten(0, 1)
        x2 = x.unflatten(-1, (-1, 2))
        a, b = x2[..., 0], x2[..., 1]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class Block(nn.Module):
    """AdaLN-modulated attention + MLP; attention over [context | own tokens]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(dim)
        self.k_norm = RMSNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Parameter(torch.zeros(1, 6, dim))

    def forward(
        self,
        x: torch.Tensor,
        e: torch.Tensor,
        rope: Rope3D,
        slot: int | torch.Tensor,
        ctx: tuple[torch.Tensor, torch.Tensor] | None,
        ctx_tail: bool = False,
        attn_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, N, D], e [B, 1 or N, 6, D] (per sample or per token), ctx (K, V) [B, H, L, dh]
        post-RoPE or None, slot an int or one per frame of x (see Rope3D.apply), attn_mask a
        boolean [N, N] (True: may attend) for passes without context.

        With ctx_tail the context buffers are [B, H, L + N, dh] and this pass writes its own
        keys/values into the last N rows (no per-pass concatenation of the whole context).
        Returns the new x and this pass's (k_raw, v) [B, H, N, dh] (k before RoPE).
        """
        B, N, D = x.shape
        H = self.heads
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation[:, None] + e).unbind(2)
        h = torch.addcmul(shift1, self.norm1(x), 1 + scale1)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        q = self.q_norm(q).view(B, N, H, -1).transpose(1, 2)
        k_raw = self.k_norm(k).view(B, N, H, -1).transpose(1, 2)
        v = v.view(B, N, H, -1).transpose(1, 2)
        q = rope.apply(q, slot)
        k = rope.apply(k_raw, slot)
        if ctx is None:
            k_all, v_all = k, v
        elif ctx_tail:
            k_all, v_all = ctx
            k_all[:, :, -N:] = k
            v_all[:, :, -N:] = v
        else:
            k_all = torch.cat([ctx[0], k], dim=2)
            v_all = torch.cat([ctx[1], v], dim=2)
        a = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=attn_mask)
        x = torch.addcmul(x, gate1, self.proj(a.transpose(1, 2).reshape(B, N, D)))
        h = torch.addcmul(shift2, self.norm2(x), 1 + scale2)
        x = torch.addcmul(x, gate2, self.mlp(h))
        return x, k_raw, v


class CausalDiT(nn.Module):
    """Predicts the flow velocity v = eps - x0 of one frame's latent given its context."""

    def __init__(self, cfg: GeneratorConfig, slots: int | None = None) -> None:
        """slots: temporal RoPE slots (default cfg.slots, the causal cache layout); a clip
        model (the teachers) takes one slot per clip time instead."""
        super().__init__()
        d = cfg.dit
        self.cfg = cfg
        self.latent_ch = cfg.vae.latent_channels
        self.mask_ch = cfg.vae.temporal_compression
        self.in_ch = 2 * self.latent_ch + self.mask_ch
        p = d.patch
        self.patch = p
        h, w = cfg.latent_hw
        self.grid = (h // p, w // p)
        self.embed = nn.Linear(self.in_ch * p * p, d.width)
        self.plucker = nn.Linear(6 * p * p, d.width) if d.plucker else None
        self.time_embed = nn.Sequential(nn.Linear(256, d.width), nn.SiLU(), nn.Linear(d.width, d.width))
        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(d.width, 6 * d.width))
        self.blocks = nn.ModuleList(Block(d.width, d.heads, d.mlp_ratio) for _ in range(d.depth))
        self.head_norm = nn.LayerNorm(d.width, elementwise_affine=False, eps=1e-6)
        self.head_modulation = nn.Parameter(torch.zeros(1, 2, d.width))
        self.head = nn.Linear(d.width, self.latent_ch * p * p)
        self.rope = Rope3D(d.width // d.heads, slots or cfg.slots, *self.grid, theta=d.rope_theta)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for b in self.blocks:
            nn.init.normal_(b.modulation, std=0.02)
        nn.init.zeros_(self.head.weight)  # start as v = 0 (x0 = x_t): stable early training

    # -- token layout ----------------------------------------------------------------------
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, h, w] -> [B, N, C*p*p]."""
        B, C, h, w = x.shape
        p = self.patch
        x = x.view(B, C, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(B, (h // p) * (w // p), C * p * p)

    def unpatchify(self, t: torch.Tensor) -> torch.Tensor:
        """[B, N, C*p*p] -> [B, C, h, w]."""
        B = t.shape[0]
        p = self.patch
        gh, gw = self.grid
        x = t.view(B, gh, gw, -1, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(B, -1, gh * p, gw * p)

    def frame_input(self, latent: torch.Tensor, mask: torch.Tensor | None = None,
                    render: torch.Tensor | None = None) -> torch.Tensor:
        """concat[latent | mask | render latent]; context frames pass None: zeros."""
        B, _, h, w = latent.shape
        mask = latent.new_zeros(B, self.mask_ch, h, w) if mask is None else mask
        render = latent.new_zeros(B, self.latent_ch, h, w) if render is None else render
        return torch.cat([latent, mask, render], dim=1)

    def modulation(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block modulation [*, 6, D], time embedding [*, D]) for noise levels sigma [*]."""
        emb = self.time_embed(timestep_embedding(sigma.reshape(-1) * 1000.0, 256)).unflatten(0, sigma.shape)
        return self.time_proj(emb).unflatten(-1, (6, -1)), emb

    def _run(self, x: torch.Tensor, e: torch.Tensor, emb: torch.Tensor, slot: int | torch.Tensor,
             ctx: list[tuple[torch.Tensor, torch.Tensor]] | None, ctx_tail: bool,
             attn_mask: torch.Tensor | None) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Blocks and head over tokens x [B, L, D]; e [B, 1|L, 6, D], emb [B, 1|L, D]."""
        kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, blk in enumerate(self.blocks):
            x, k_raw, v = blk(x, e, self.rope, slot, None if ctx is None else ctx[i], ctx_tail, attn_mask)
            kv.append((k_raw, v))
        shift, scale = (self.head_modulation[:, None] + emb[:, :, None]).unbind(2)
        x = torch.addcmul(shift, self.head_norm(x), 1 + scale)
        return self.head(x), kv

    def forward(
        self,
        frame: torch.Tensor,
        sigma: torch.Tensor,
        slot: int,
        ctx: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        plucker: torch.Tensor | None = None,
        ctx_tail: bool = False,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One pass over one frame per sample.

        frame [B, in_ch, h, w] from frame_input, sigma [B], slot its temporal RoPE slot,
        ctx per layer (K post-RoPE, V) [B, H, L, dh] or None (attend to itself only);
        ctx_tail: the buffers have N spare rows at the end for this frame (see Block),
        plucker [B, 6, h, w] ray map at latent resolution if configured.
        Returns v [B, latent_ch, h, w] and per layer (k_raw, v) of this frame's tokens.
        """
        x = self.embed(self.patchify(frame))
        if self.plucker is not None and plucker is not None:  # context frames carry no rays
            x = x + self.plucker(self.patchify(plucker))
        e, emb = self.modulation(sigma)
        out, kv = self._run(x, e[:, None], emb[:, None], slot, ctx, ctx_tail, None)
        return self.unpatchify(out), kv

    def forward_clip(self, frames: torch.Tensor, sigma: torch.Tensor, slots: torch.Tensor,
                     frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """One pass over F frames per sample, every token attending to every frame's tokens
        (bidirectional: the teachers and the critic) or to the frames frame_mask [F, F]
        allows (True: frame i may attend to frame j).

        frames [B, F, in_ch, h, w] from frame_input, sigma [B, F] each frame's noise level
        (0 for clean context frames), slots [F] each frame's temporal RoPE slot.
        Returns v [B, F, latent_ch, h, w].
        """
        B, Fn = frames.shape[:2]
        x = self.embed(self.patchify(frames.flatten(0, 1))).unflatten(0, (B, Fn)).flatten(1, 2)
        N = x.shape[1] // Fn
        e, emb = self.modulation(sigma)  # [B, F, 6, D], [B, F, D]
        e = e.repeat_interleave(N, dim=1)
        emb = emb.repeat_interleave(N, dim=1)
        mask = None
        if frame_mask is not None:
            mask = frame_mask.to(torch.bool).repeat_interleave(N, 0).repeat_interleave(N, 1).to(x.device)
        out, _ = self._run(x, e, emb, slots, None, False, mask)
        return self.unpatchify(out.unflatten(1, (Fn, N)).flatten(0, 1)).unflatten(0, (B, Fn))


def dit_flops_per_pass(cfg: GeneratorConfig, context_frames: int) -> int:
    """FLOPs (2 x multiply-adds) of one pass of one frame with `context_frames` cached frames."""
    d = cfg.dit
    N = cfg.tokens_per_frame
    D = d.width
    hidden = int(D * d.mlp_ratio)
    in_dim = (2 * cfg.vae.latent_channels + cfg.vae.temporal_compression) * d.patch**2
    per_block = N * (3 * D * D + D * D + 2 * D * hidden)  # qkv, proj, mlp
    keys = (context_frames + 1) * N
    per_block += 2 * N * keys * D  # q k^T and attn v
    total = d.depth * per_block + N * in_dim * D + N * D * cfg.vae.latent_channels * d.patch**2
    if d.plucker:
        total += N * 6 * d.patch**2 * D
    return 2 * total
