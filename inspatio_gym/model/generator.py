"""The STAR generator facade: reference video in, one new frame per session per step out.

    gen = StarGenerator(config)
    world = gen.encode_reference(frames)            # once per world, shared by all sessions
    sessions = gen.new_sessions(n)                   # per-lane history, VAE streams, noise
    gen.reset_sessions(world, sessions, lanes, start_frames, seeds)
    rgb = gen.step(world, sessions, lanes, frames, render, mask, fill=fill)   # batched over lanes

Per step and lane: the render (the explicit spatial constraint) is encoded by the VAE's
streaming encoder; the DiT denoises a fresh latent in a few flow steps attending to the
reference window and the history; one pass at sigma = 0 writes the new frame's K/V into the
history; the VAE's streaming decoder turns the latent into a frame, and the refiner
(model.refine, when the config has one) joins it to the warp at pixel resolution: covered
pixels are the render, holes the warp's fill corrected with what the frame knows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import GeneratorConfig, SamplerConfig
from .kv_cache import SessionCache, WorldCache
from .dit import CausalDiT, dit_flops_per_pass
from .refine import Refiner, refiner_flops
from .sampler import SessionNoise, sample_flow
from .vae import TinyVAE, flops_per_frame

__all__ = ["CONTEXT", "StarGenerator", "Sessions", "generator_flops_per_frame"]

#: What a generated frame attends to besides itself: the implicit spatiotemporal cache.
CONTEXT = ("reference", "history")


def check_context(context: tuple[str, ...]) -> tuple[str, ...]:
    """A valid cache-part selection (an ablation), or a ValueError naming the value."""
    if isinstance(context, str) or not all(isinstance(c, str) for c in context):
        raise ValueError(f"context must be a tuple of parts from {list(CONTEXT)}, got {context!r}")
    bad = sorted(set(context) - set(CONTEXT))
    if bad:
        raise ValueError(f"unknown context part(s) {bad}; known: {list(CONTEXT)}")
    return tuple(context)


class _Streams:
    """Per-lane streaming state of a VAE coder: a list of tensors with lanes in dim 0."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.state: list[torch.Tensor] | None = None

    def take(self, lanes: torch.Tensor) -> list[torch.Tensor] | None:
        return None if self.state is None else [s[lanes] for s in self.state]

    def put(self, lanes: torch.Tensor, new: list[torch.Tensor]) -> None:
        if self.state is None:
            self.state = [s.new_zeros((self.lanes, *s.shape[1:])).contiguous(memory_format=torch.channels_last)
                          for s in new]
        for full, part in zip(self.state, new):
            full[lanes] = part

    def reset(self, lanes: torch.Tensor) -> None:
        if self.state is not None:
            for s in self.state:
                s[lanes] = 0


class Sessions:
    """Everything per lane: history cache, VAE stream states, noise generators."""

    def __init__(self, cfg: GeneratorConfig, lanes: int, device: torch.device | str = "cpu") -> None:
        self.lanes = lanes
        self.history = SessionCache(cfg, lanes, device)
        self.enc = _Streams(lanes)
        self.dec = _Streams(lanes)
        self.noise = SessionNoise(lanes)

    def save(self, lanes: torch.Tensor) -> tuple:
        """Copies of these lanes' state, for load() when a batch fails part way through."""
        h = self.history
        streams = tuple(None if st.state is None else st.take(lanes) for st in (self.enc, self.dec))
        return (h.k[lanes].clone(), h.v[lanes].clone(), h.last[lanes].clone(), streams, self.noise.states(lanes))

    def load(self, lanes: torch.Tensor, saved: tuple) -> None:
        k, v, last, streams, noise = saved
        self.history.k[lanes], self.history.v[lanes], self.history.last[lanes] = k, v, last
        for st, rows in zip((self.enc, self.dec), streams):
            if rows is None:  # no lane had a stream yet: none has one now
                st.state = None
            else:
                st.put(lanes, rows)
        self.noise.restore(lanes, noise)

    def nbytes_per_lane(self) -> int:
        n = self.history.nbytes_per_lane()
        for st in (self.enc.state, self.dec.state):
            if st is not None:
                n += sum(s[0].numel() * s.element_size() for s in st)
        return n


class StarGenerator(nn.Module):
    """Tiny VAE + causal DiT + cache + few-step sampler (+ the pixel-resolution refiner)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        if cfg.vae.temporal_compression != 1:
            raise ValueError("the step-by-step generator needs temporal_compression=1 (one step = one frame)")
        self.cfg = cfg
        self.vae = TinyVAE(cfg.vae).to(memory_format=torch.channels_last)  # ~2x faster CPU convs
        self.dit = CausalDiT(cfg)
        # channels_last: its small-channel convs run ~3x faster that way on CPU at batch 16
        self.refiner = Refiner(cfg.refine).to(memory_format=torch.channels_last) if cfg.refine else None
        self.ref_slots, self.hist_slots, self.current_slot = cfg.ref_slots, cfg.hist_slots, cfg.current_slot

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- reference --------------------------------------------------------------------------
    @torch.no_grad()
    def encode_reference(self, frames: torch.Tensor, capacity: int = 32, chunk: int = 32) -> WorldCache:
        """VAE latents of all reference frames (uint8 [T, H, W, 3]); K/V come lazily."""
        T = frames.shape[0]
        lat = []
        for i in range(0, T, chunk):
            x = _to_unit(frames[i : i + chunk]).to(self.device)
            # each reference frame is encoded on its own (no memory across frames): the
            # reference is a set of views, and lazily encoded windows must not depend on order
            lat.append(self.vae.encode(x.unsqueeze(1))[:, 0].contiguous())
        return WorldCache(self.cfg, torch.cat(lat), capacity)

    @torch.no_grad()
    def _ensure_reference(self, world: WorldCache, frames: torch.Tensor) -> None:
        """Context passes (sigma = 0, within-frame attention) for window frames not cached.

        One frame per pass: a frame's K/V must not depend on which other frames happened
        to be computed with it (the cache is shared by every session and env on the world).
        """
        for f in world.reserve(frames):
            z = world.latents[f : f + 1]
            _, kv = self.dit(self.dit.frame_input(z), torch.zeros(1, device=z.device), 0, None)
            k = torch.stack([torch.stack([self.dit.rope.apply(k_raw[0], s) for s in self.ref_slots])
                             for k_raw, _ in kv])
            v = torch.stack([v[0] for _, v in kv])
            world.put(f, k, v)

    # -- sessions ---------------------------------------------------------------------------
    def new_sessions(self, lanes: int) -> Sessions:
        return Sessions(self.cfg, lanes, self.device)

    def _rotate_history(self, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer: K rotated to each history slot [B, ages, H, N, dh], V [B, H, N, dh]."""
        if not self.hist_slots:  # history = 0: nothing is kept
            return []
        return [(torch.stack([self.dit.rope.apply(k, s) for s in self.hist_slots], dim=1), v) for k, v in kv]

    @torch.no_grad()
    def reset_sessions(self, world: WorldCache, sessions: Sessions, lanes: torch.Tensor,
                       start_frames: torch.Tensor, seeds: torch.Tensor) -> None:
        """New episodes: history holds the start reference frame, fresh VAE streams and noise."""
        sessions.noise.seed(lanes, seeds)
        sessions.enc.reset(lanes)
        sessions.dec.reset(lanes)
        z = world.latents[start_frames]
        _, kv = self.dit(self.dit.frame_input(z), torch.zeros(len(lanes), device=z.device), 0, None)
        sessions.history.fill(lanes, self._rotate_history(kv))
        # warm the decoder's one-frame memory with the start frame, as if it had just been shown
        _, st = self.vae.decode_step(_cl(z), sessions.dec.take(lanes))
        sessions.dec.put(lanes, st)

    def _context(self, world: WorldCache, sessions: Sessions, lanes: torch.Tensor, frames: torch.Tensor,
                 parts: tuple[str, ...] = CONTEXT) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer (K, V) buffers [B, H, L + N, dh]: reference window, history, and N spare
        rows that each pass fills with the current frame's own keys and values. `parts` drops
        the reference or the history (an ablation: slots stay, the tokens are absent)."""
        rows = world.lookup(frames)
        ctx = []
        for layer in range(self.cfg.dit.depth):
            rk, rv = world.gather(rows, layer)
            ks, vs = [], []
            if "reference" in parts:
                ks.append(rk)
                vs.append(rv)
            if self.cfg.history and "history" in parts:
                hk, hv = sessions.history.gather(lanes, layer)
                ks.append(hk)
                vs.append(hv)
            tail = rk.new_empty(*rk.shape[:2], self.cfg.tokens_per_frame, rk.shape[3])
            ctx.append((torch.cat([*ks, tail], 2), torch.cat([*vs, tail], 2)))
        return ctx

    @torch.no_grad()
    def step(
        self,
        world: WorldCache,
        sessions: Sessions,
        lanes: torch.Tensor,
        frames: torch.Tensor,
        render: torch.Tensor,
        mask: torch.Tensor,
        plucker: torch.Tensor | None = None,
        context: tuple[str, ...] = CONTEXT,
        sampler: SamplerConfig | None = None,
        fill: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next frame [B, 3, H, W] in [-1, 1] for each lane.

        render [B, 3, H, W] in [-1, 1] (holes -1), mask [B, 1, H, W] in {0, 1} (coverage),
        frames [B] reference frame index (time), plucker [B, 6, h, w] if camera-conditioned;
        fill [B, 3, H, W]: the warp's image with its holes filled (the render elsewhere),
        needed when the config has a refiner (the model knows no geometry: the warp
        fills, render.condition.fill_from_view); context and sampler override what is
        attended to and the flow steps (ablations).
        """
        context = check_context(context)
        cfg = self.cfg
        B = len(lanes)
        if render.shape != (B, 3, cfg.height, cfg.width) or mask.shape != (B, 1, cfg.height, cfg.width):
            raise ValueError(f"render/mask must be [{B},3|1,{cfg.height},{cfg.width}], "
                             f"got {tuple(render.shape)} and {tuple(mask.shape)}")
        if cfg.dit.plucker and plucker is None:
            raise ValueError("this generator is camera-conditioned: pass plucker rays [B, 6, h, w]")
        if (self.refiner is not None and fill is None) or (fill is not None and fill.shape != render.shape):
            raise ValueError(f"fill must be [{B},3,{cfg.height},{cfg.width}] (the warp's filled image; a generator "
                             f"with a refiner needs it), got {None if fill is None else tuple(fill.shape)}")
        self._ensure_reference(world, frames)  # a pure cache of the world: no session state
        # everything is computed before any session state is written: a failure anywhere
        # (memory, a bad tensor) leaves the sessions as they were, noise generators included
        noise_states = sessions.noise.states(lanes)
        try:
            z_render, st_enc = self.vae.encode_step(_cl(render), sessions.enc.take(lanes))
            z_render = z_render.contiguous()
            m = F.adaptive_avg_pool2d(mask.to(render.dtype), cfg.latent_hw)
            ctx = self._context(world, sessions, lanes, frames, context)
            slot = self.current_slot

            def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
                return self.dit(self.dit.frame_input(x, m, z_render), sigma, slot, ctx, plucker, ctx_tail=True)[0]

            shape = (cfg.vae.latent_channels, *cfg.latent_hw)
            x0 = sample_flow(velocity, lambda: sessions.noise.draw(lanes, shape).to(render.device),
                             sampler or cfg.sampler)
            # the write pass: the clean frame at sigma = 0 gives the K/V the next steps attend to
            # (a context frame: [clean latent | 0 | 0], no rays)
            _, kv = self.dit(self.dit.frame_input(x0), torch.zeros(B, device=x0.device), slot, ctx, None,
                             ctx_tail=True)
            kv_rot = self._rotate_history(kv)
            rgb, st_dec = self.vae.decode_step(_cl(x0), sessions.dec.take(lanes))
            rgb = rgb.clamp(-1, 1)
            if self.refiner is not None:
                rgb = self.refiner(_cl(render), _cl(fill), _cl(mask), _cl(rgb))
        except BaseException:
            sessions.noise.restore(lanes, noise_states)
            raise
        sessions.enc.put(lanes, st_enc)
        sessions.history.write(lanes, kv_rot)
        sessions.dec.put(lanes, st_dec)
        self.last_latent = x0  # the generated latent, for evaluation and tests
        return rgb.contiguous()


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [-1, 1]."""
    return frames.to(torch.float32).div(127.5).sub(1.0).movedim(-1, -3)


def generator_flops_per_frame(cfg: GeneratorConfig) -> dict[str, int]:
    """FLOPs of one env step of one session, counted from the config."""
    ctx = 2 * cfg.ref_window + 1 + cfg.history
    vae = flops_per_frame(cfg.vae, cfg.height, cfg.width)
    dit = dit_flops_per_pass(cfg, ctx)
    out = {
        "vae_encode": vae["encode"],
        "denoise": cfg.sampler.steps * dit,
        "cache_write": dit,
        "vae_decode": vae["decode"],
        "refine": refiner_flops(cfg.refine, cfg.height, cfg.width) if cfg.refine else 0,
    }
    out["total"] = sum(out.values())
    return out
