"""Tiny causal video VAE (TAEHV-like): conv encoder/decoder with one-frame memory blocks.

INSPATIO-WORLD decodes its latents with TAEHV, a tiny VAE whose only temporal mixing is a
"memory block" that sees the block's own input at the previous frame. That makes the codec
causal, so the env can encode and decode one frame per step (streaming) and get exactly
what the whole-clip (sequence) path gives. This module is our own small re-implementation,
sized by :class:`~inspatio_gym.model.config.VAEConfig`.

Layout (``s`` = spatial compression, ``c = config.channels``, ``L = latent_channels``)::

    encode: [-1,1] video [N,T,3,H,W]
        conv3x3/2 3->c0, ReLU, MemBlock*b
        (conv3x3/2 c[i-1]->c[i], MemBlock*b) for each further stage
        [TPool 4 frames -> 1 if temporal_compression == 4]
        conv3x3 c[-1]->L                      -> raw latents [N,T/tc,L,H/s,W/s]
    decode: mirror
        conv3x3 L->c[-1], ReLU, [TGrow 1 -> 4 frames]
        (MemBlock*b, upsample x2, conv3x3 c[i]->c[i-1] (c0 for the last)) deepest first
        ReLU, conv3x3 c0->3                   -> video (clamped to [-1, 1] by ``decode``)

Latents handed out by ``encode``/``encode_step`` are standardised per channel with the
buffers ``latent_mean``/``latent_std`` (see :meth:`TinyVAE.fit_latent_stats`), so the
diffusion model sees roughly unit-variance latents.

Streaming state: a plain ``list`` of tensors, one per memory block, each ``[N, C, h, w]``
with the batch in dim 0 (``None`` starts a stream). Zero rows are exactly a fresh stream,
so a vectorised env resets a lane by zeroing its rows (:func:`state_assign` with ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from inspatio_gym.model.config import VAEConfig

__all__ = [
    "MemBlock",
    "TPool",
    "TGrow",
    "Upsample2x",
    "TinyVAE",
    "VAEState",
    "flops_per_frame",
    "state_select",
    "state_assign",
]

#: Streaming memory: one ``[N, C, h, w]`` tensor per memory block, batch in dim 0.
VAEState = list[torch.Tensor]

_TSTRIDE = 4  # frames per latent when temporal_compression == 4


def _conv3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


class MemBlock(nn.Module):
    """Residual conv block that also sees its own input from the previous frame.

    This is the codec's only temporal path: one frame of memory keeps it causal and makes
    per-frame streaming exact. ``forward`` runs a whole sequence at once (the memory is the
    sequence shifted by one frame, zeros first); ``step`` runs one frame with explicit memory.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.conv1 = _conv3(2 * c_in, c_out)
        self.conv2 = _conv3(c_out, c_out)
        self.conv3 = _conv3(c_out, c_out)
        self.skip: nn.Module = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def _mix(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(torch.cat([x, mem], 1)))
        h = F.relu(self.conv2(h))
        return F.relu(self.conv3(h) + self.skip(x))

    def forward(self, x: torch.Tensor, mem: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Sequence mode: ``x`` [N, T, C, H, W] -> [N, T, C_out, H, W].

        ``mem`` [N, C, H, W] is the memory before frame 0 (zeros when ``None``), which lets a
        caller continue a stream with a whole chunk.
        """
        if x.ndim != 5 or x.shape[2] != self.c_in:
            raise ValueError(f"MemBlock sequence input must be [N, T, {self.c_in}, H, W], got {_shape(x)}")
        n, t, c, h, w = x.shape
        if mem is None:
            first = x.new_zeros(n, 1, c, h, w)
        else:
            if mem.shape != (n, c, h, w):
                raise ValueError(f"MemBlock memory must be {(n, c, h, w)}, got {_shape(mem)}")
            first = mem.unsqueeze(1)
        prev = torch.cat([first, x[:, :-1]], 1)
        y = self._mix(x.reshape(n * t, c, h, w), prev.reshape(n * t, c, h, w))
        return y.reshape(n, t, self.c_out, h, w)

    def step(self, x: torch.Tensor, mem: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Streaming mode: one frame ``x`` [N, C, H, W] -> (output, new memory = ``x``)."""
        if x.ndim != 4 or x.shape[1] != self.c_in:
            raise ValueError(f"MemBlock step input must be [N, {self.c_in}, H, W], got {_shape(x)}")
        if mem is None:
            mem = torch.zeros_like(x)
        elif mem.shape != x.shape:
            raise ValueError(f"MemBlock memory must match the frame {_shape(x)}, got {_shape(mem)}")
        return self._mix(x, mem), x


class TPool(nn.Module):
    """Temporal pooling: stack ``stride`` consecutive frames in channels, mix back with a 1x1 conv."""

    def __init__(self, channels: int, stride: int = _TSTRIDE) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels * stride, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        if t % self.stride:
            raise ValueError(f"TPool needs T divisible by {self.stride}, got shape {_shape(x)}")
        y = self.conv(x.reshape(n * (t // self.stride), self.stride * c, h, w))
        return y.reshape(n, t // self.stride, c, h, w)


class TGrow(nn.Module):
    """Temporal unpooling: a 1x1 conv to ``stride`` x channels, unfolded into ``stride`` frames."""

    def __init__(self, channels: int, stride: int = _TSTRIDE) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels, channels * stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        y = self.conv(x.reshape(n * t, c, h, w))
        return y.reshape(n, t * self.stride, c, h, w)


class Upsample2x(nn.Module):
    """Nearest x2 upsampling by broadcast + reshape (same values as ``F.interpolate(mode="nearest")``,
    several times faster on CPU in torch 2.x, where interpolate dominated ``decode_step``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


def _run_sequence(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """Apply layers to [N, T, C, H, W]: frame-wise layers see T folded into the batch."""
    for layer in layers:
        if isinstance(layer, (MemBlock, TPool, TGrow)):
            x = layer(x)
        else:
            n, t = x.shape[:2]
            x = layer(x.flatten(0, 1)).unflatten(0, (n, t))
    return x


def _run_step(
    layers: nn.ModuleList, x: torch.Tensor, state: Optional[Sequence[torch.Tensor]], n_mem: int, what: str
) -> tuple[torch.Tensor, VAEState]:
    """Apply layers to one frame [N, C, H, W], threading one memory tensor per MemBlock."""
    if state is not None:
        if not isinstance(state, (list, tuple)) or len(state) != n_mem:
            is_seq = isinstance(state, (list, tuple))
            got = f"a {type(state).__name__} of length {len(state)}" if is_seq else type(state).__name__
            raise ValueError(f"{what} state must be None or a list of {n_mem} tensors, got {got}")
    new: VAEState = []
    for layer in layers:
        if isinstance(layer, MemBlock):
            mem = None if state is None else state[len(new)]
            if mem is not None and mem.shape != x.shape:
                raise ValueError(
                    f"{what} state[{len(new)}] has shape {_shape(mem)} but this frame needs {_shape(x)} "
                    "(batch size or image size changed mid-stream?)"
                )
            x, m = layer.step(x, mem)
            new.append(m)
        else:
            x = layer(x)
    return x, new


Index = Union[int, slice, torch.Tensor, Sequence[int]]


def state_select(state: Optional[Sequence[torch.Tensor]], index: Index) -> Optional[VAEState]:
    """Rows ``index`` of every memory tensor (e.g. to hand some lanes to another stream)."""
    if state is None:
        return None
    if isinstance(index, int):
        index = slice(index, index + 1)  # keep the batch dim
    return [t[index] for t in state]


def state_assign(
    state: Optional[Sequence[torch.Tensor]],
    index: Index,
    other: Optional[Sequence[torch.Tensor]],
) -> Optional[VAEState]:
    """Out-of-place copy of ``state`` with rows ``index`` replaced by ``other`` (``None`` = reset).

    Resetting lanes of a ``None`` state is a no-op (it is all zeros already), and so returns ``None``.
    """
    if state is None:
        if other is None:
            return None
        raise ValueError("cannot assign rows into a None state: run one step first or build a zero state")
    out = []
    for k, t in enumerate(state):
        t = t.clone()
        if other is None:
            t[index] = 0
        else:
            t[index] = other[k].to(t.dtype)
        out.append(t)
    return out


class TinyVAE(nn.Module):
    """Tiny causal video autoencoder; see the module docstring for layout and state format."""

    latent_mean: torch.Tensor
    latent_std: torch.Tensor

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        ch, b, L = tuple(config.channels), config.blocks_per_stage, config.latent_channels

        enc: list[nn.Module] = [_conv3(3, ch[0], stride=2), nn.ReLU()]
        enc += [MemBlock(ch[0], ch[0]) for _ in range(b)]
        for i in range(1, len(ch)):
            enc.append(_conv3(ch[i - 1], ch[i], stride=2))
            enc += [MemBlock(ch[i], ch[i]) for _ in range(b)]
        if config.temporal_compression == _TSTRIDE:
            enc.append(TPool(ch[-1]))
        enc.append(_conv3(ch[-1], L))
        self.encoder = nn.ModuleList(enc)

        dec: list[nn.Module] = [_conv3(L, ch[-1]), nn.ReLU()]
        if config.temporal_compression == _TSTRIDE:
            dec.append(TGrow(ch[-1]))
        for i in reversed(range(len(ch))):
            dec += [MemBlock(ch[i], ch[i]) for _ in range(b)]
            dec.append(Upsample2x())
            dec.append(_conv3(ch[i], ch[i - 1] if i > 0 else ch[0]))
        dec += [nn.ReLU(), _conv3(ch[0], 3)]
        self.decoder = nn.ModuleList(dec)

        self.register_buffer("latent_mean", torch.zeros(L))
        self.register_buffer("latent_std", torch.ones(L))
        self._n_enc_mem = sum(isinstance(m, MemBlock) for m in self.encoder)
        self._n_dec_mem = sum(isinstance(m, MemBlock) for m in self.decoder)

    # ---------------------------------------------------------------- validation
    def _check_image(self, x: torch.Tensor, ndim: int, what: str) -> None:
        s = self.config.spatial_compression
        layout = "[N, T, 3, H, W]" if ndim == 5 else "[N, 3, H, W]"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{what} expects a torch.Tensor {layout}, got {type(x).__name__}")
        if x.ndim != ndim:
            raise ValueError(f"{what} expects {layout} in [-1, 1], got shape {_shape(x)}")
        if x.shape[-3] != 3:
            raise ValueError(f"{what} expects 3 colour channels {layout}, got shape {_shape(x)}")
        if x.shape[-2] % s or x.shape[-1] % s or x.shape[-2] == 0 or x.shape[-1] == 0:
            raise ValueError(f"{what}: H and W must be positive multiples of {s}, got shape {_shape(x)}")
        if not x.is_floating_point():
            raise ValueError(f"{what} expects a floating-point image in [-1, 1], got {x.dtype} of shape {_shape(x)}")
        if ndim == 5:
            tc = self.config.temporal_compression
            if x.shape[1] == 0 or x.shape[1] % tc:
                raise ValueError(
                    f"{what}: T must be a positive multiple of {tc} (temporal_compression), got shape {_shape(x)}"
                )

    def _check_latent(self, z: torch.Tensor, ndim: int, what: str) -> None:
        L = self.config.latent_channels
        layout = f"[N, T, {L}, h, w]" if ndim == 5 else f"[N, {L}, h, w]"
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{what} expects a torch.Tensor {layout}, got {type(z).__name__}")
        if z.ndim != ndim or z.shape[-3] != L:
            raise ValueError(f"{what} expects latents {layout}, got shape {_shape(z)}")
        if ndim == 5 and z.shape[1] == 0:
            raise ValueError(f"{what} expects at least one latent frame, got shape {_shape(z)}")
        if not z.is_floating_point():
            raise ValueError(f"{what} expects floating-point latents, got {z.dtype} of shape {_shape(z)}")

    def _check_streaming(self, what: str) -> None:
        if self.config.temporal_compression != 1:
            raise ValueError(
                f"{what} streams one frame per latent and needs temporal_compression=1, "
                f"this VAE has temporal_compression={self.config.temporal_compression}; "
                "use encode/decode on chunks of 4 frames"
            )

    # ------------------------------------------------------------ standardisation
    def _standardise(self, raw: torch.Tensor) -> torch.Tensor:
        shape = (-1, 1, 1)
        return (raw - self.latent_mean.view(shape)) / self.latent_std.view(shape)

    def _unstandardise(self, z: torch.Tensor) -> torch.Tensor:
        shape = (-1, 1, 1)
        return z * self.latent_std.view(shape) + self.latent_mean.view(shape)

    @torch.no_grad()
    def fit_latent_stats(self, raw_latents: torch.Tensor, eps: float = 1e-6) -> None:
        """Set per-channel mean/std from raw latents ([N, T, C, h, w] or [N, C, h, w], from ``encode_raw``).

        Channels with std below ``eps`` keep std 1 so that they are not blown up.
        """
        self._check_latent(raw_latents, raw_latents.ndim if raw_latents.ndim in (4, 5) else 5, "fit_latent_stats")
        x = raw_latents.detach().movedim(-3, 0).reshape(self.config.latent_channels, -1).double()
        mean = x.mean(1)
        std = x.std(1, unbiased=False)
        std = torch.where(std > eps, std, torch.ones_like(std))
        self.latent_mean.copy_(mean.to(self.latent_mean.dtype))
        self.latent_std.copy_(std.to(self.latent_std.dtype))

    # ------------------------------------------------------------------ batched
    def encode_raw(self, video: torch.Tensor) -> torch.Tensor:
        """Un-standardised latents [N, T/tc, L, H/s, W/s] of a [-1, 1] video [N, T, 3, H, W]."""
        self._check_image(video, 5, "encode")
        return _run_sequence(self.encoder, video)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Standardised latents [N, T/tc, L, H/s, W/s] of a [-1, 1] video [N, T, 3, H, W] (causal)."""
        return self._standardise(self.encode_raw(video))

    def decode(self, z: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Video [N, T*tc, 3, H, W] from standardised latents [N, T, L, h, w] (causal).

        ``clamp=False`` keeps the raw output (useful as a training target: no dead gradients).
        """
        self._check_latent(z, 5, "decode")
        x = _run_sequence(self.decoder, self._unstandardise(z))
        return x.clamp(-1.0, 1.0) if clamp else x

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Unclamped reconstruction, for training with a pixel loss."""
        return self.decode(self.encode(video), clamp=False)

    # ---------------------------------------------------------------- streaming
    def encode_step(
        self, frame: torch.Tensor, state: Optional[Sequence[torch.Tensor]] = None
    ) -> tuple[torch.Tensor, VAEState]:
        """One frame [N, 3, H, W] -> (standardised latent [N, L, h, w], new encoder state).

        Equal to the matching frame of :meth:`encode` on the whole clip. The returned state holds
        activations (not detached); wrap in ``torch.no_grad()`` for inference.
        """
        self._check_streaming("encode_step")
        self._check_image(frame, 4, "encode_step")
        raw, new = _run_step(self.encoder, frame, state, self._n_enc_mem, "encode_step")
        return self._standardise(raw), new

    def decode_step(
        self, z: torch.Tensor, state: Optional[Sequence[torch.Tensor]] = None, clamp: bool = True
    ) -> tuple[torch.Tensor, VAEState]:
        """One standardised latent [N, L, h, w] -> (frame [N, 3, H, W] in [-1, 1], new decoder state)."""
        self._check_streaming("decode_step")
        self._check_latent(z, 4, "decode_step")
        x, new = _run_step(self.decoder, self._unstandardise(z), state, self._n_dec_mem, "decode_step")
        return (x.clamp(-1.0, 1.0) if clamp else x), new

    def zero_state(self, which: str, batch: int, height: int, width: int) -> VAEState:
        """An all-zeros state (equal to ``None``) for images of ``height`` x ``width``; ``which`` is
        ``"encode"`` or ``"decode"``. Handy for preallocating lanes of a vectorised env."""
        if which not in ("encode", "decode"):
            raise ValueError(f"which must be 'encode' or 'decode', got {which!r}")
        p = self.latent_mean
        layers = self.encoder if which == "encode" else self.decoder
        if which == "encode":
            x = torch.zeros(batch, 3, height, width, device=p.device, dtype=p.dtype)
            self._check_image(x, 4, "zero_state")
        else:
            s = self.config.spatial_compression
            if height % s or width % s:
                raise ValueError(f"zero_state: H and W must be multiples of {s}, got {(height, width)}")
            x = torch.zeros(batch, self.config.latent_channels, height // s, width // s, device=p.device, dtype=p.dtype)
        with torch.no_grad():
            _, st = _run_step(layers, x, None, -1, which)
        return [torch.zeros_like(t) for t in st]


def flops_per_frame(config: VAEConfig, height: int, width: int) -> dict[str, float]:
    """Conv FLOPs (2 x multiply-adds) per video frame, analytic from the config.

    ``encode`` is per input frame, ``decode`` per output frame; with temporal_compression 4 the
    per-latent convs (TPool, latent conv, decoder input conv, TGrow) are shared by 4 frames.
    Biases, ReLUs and upsampling are not counted.
    """
    s, tc, L = config.spatial_compression, config.temporal_compression, config.latent_channels
    ch, b = tuple(config.channels), config.blocks_per_stage
    if height % s or width % s:
        raise ValueError(f"flops_per_frame: image {(height, width)} must be divisible by {s}")

    def conv(c_in: int, c_out: int, k: int, h: int, w: int) -> int:
        return 2 * c_in * c_out * k * k * h * w

    def mem(c: int, h: int, w: int) -> int:  # conv(2c->c) + 2 x conv(c->c), identity skip
        return b * (conv(2 * c, c, 3, h, w) + 2 * conv(c, c, 3, h, w))

    hs = [height >> (i + 1) for i in range(len(ch))]  # resolution after stage i
    ws = [width >> (i + 1) for i in range(len(ch))]
    h, w = hs[-1], ws[-1]

    enc_frame = conv(3, ch[0], 3, hs[0], ws[0]) + mem(ch[0], hs[0], ws[0])
    for i in range(1, len(ch)):
        enc_frame += conv(ch[i - 1], ch[i], 3, hs[i], ws[i]) + mem(ch[i], hs[i], ws[i])
    enc_latent = conv(ch[-1], L, 3, h, w)  # once per latent frame
    if tc > 1:
        enc_latent += conv(tc * ch[-1], ch[-1], 1, h, w)

    dec_latent = conv(L, ch[-1], 3, h, w)
    if tc > 1:
        dec_latent += conv(ch[-1], tc * ch[-1], 1, h, w)
    dec_frame = conv(ch[0], 3, 3, height, width)
    for i in reversed(range(len(ch))):
        c_out = ch[i - 1] if i > 0 else ch[0]
        dec_frame += mem(ch[i], hs[i], ws[i]) + conv(ch[i], c_out, 3, 2 * hs[i], 2 * ws[i])

    return {"encode": enc_frame + enc_latent / tc, "decode": dec_frame + dec_latent / tc}
