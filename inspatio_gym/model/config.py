"""Model configurations: plain dataclasses that round-trip through JSON (checkpoint metadata).

One config describes the whole STAR generator: the tiny VAE, the causal DiT, the cache
layout and the sampler. Scaling up to a GPU is a matter of a bigger config, not new code.
Every field is type-checked and bounded when a config is made, so a checkpoint's config
is refused (naming the field and its value) before a model of its size is built.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["VAEConfig", "DiTConfig", "SamplerConfig", "GeneratorConfig", "CONFIGS"]

#: The most tokens one frame may have: it sizes the RoPE tables (slots x tokens x head_dim),
#: which are built with the model, so it is bounded before anything is allocated.
MAX_TOKENS_PER_FRAME = 4096


def _int_in(name: str, value: Any, lo: int, hi: int) -> None:
    """Bound an integer field: configs come from checkpoint files too, and a size must be
    checked before a model of that size is built."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be {lo}..{hi} (an integer), got {value!r}")


def _number_in(name: str, value: Any, lo: float, hi: float, lo_open: bool = True) -> None:
    """Bound a float field (an int is a number too; nan and inf never are)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (lo < value if lo_open else lo <= value) and value <= hi)
    if not ok:
        raise ValueError(f"{name} must be a number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {value!r}")


def _from_dict(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{where} config must be an object, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    bad = sorted(set(d) - names)
    if bad:
        raise ValueError(f"unknown {where} config key(s) {bad}; known: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class VAEConfig:
    """Tiny VAE: conv encoder/decoder with causal one-frame memory blocks (TAEHV-like)."""

    latent_channels: int = 16
    spatial_compression: int = 4  # 4 or 8: number of stride-2 stages is log2 of it
    temporal_compression: int = 1  # 1 (one env step = one frame) or 4 (the original block layout)
    channels: tuple[int, ...] = (24, 48)  # width after each stride-2 stage (len = log2(spatial))
    blocks_per_stage: int = 1  # memory blocks after each downsampling / before each upsampling

    def __post_init__(self) -> None:
        _int_in("vae.latent_channels", self.latent_channels, 1, 256)
        _int_in("vae.blocks_per_stage", self.blocks_per_stage, 0, 8)
        if isinstance(self.spatial_compression, bool) or self.spatial_compression not in (4, 8):
            raise ValueError(f"vae.spatial_compression must be 4 or 8, got {self.spatial_compression!r}")
        if isinstance(self.temporal_compression, bool) or self.temporal_compression not in (1, 4):
            raise ValueError(f"vae.temporal_compression must be 1 or 4, got {self.temporal_compression!r}")
        stages = {4: 2, 8: 3}[int(self.spatial_compression)]
        if not isinstance(self.channels, (tuple, list)) or len(self.channels) != stages:
            raise ValueError(f"vae.channels needs {stages} entries for {self.spatial_compression}x, "
                             f"got {self.channels!r}")
        for i, c in enumerate(self.channels):
            _int_in(f"vae.channels[{i}]", c, 1, 1024)


@dataclass(frozen=True)
class DiTConfig:
    """Block-causal diffusion transformer (Wan-style blocks) over latent patches."""

    width: int = 128
    depth: int = 4
    heads: int = 2
    mlp_ratio: float = 4.0
    patch: int = 2  # spatial patch on the latent grid (temporal patch is 1)
    plucker: bool = False  # camera conditioning by Plücker rays of the target
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        _int_in("dit.width", self.width, 8, 4096)
        _int_in("dit.depth", self.depth, 1, 128)
        _int_in("dit.heads", self.heads, 1, 64)
        _int_in("dit.patch", self.patch, 1, 8)
        _number_in("dit.mlp_ratio", self.mlp_ratio, 0, 16)
        _number_in("dit.rope_theta", self.rope_theta, 1, 1e8)
        if not isinstance(self.plucker, bool):
            raise ValueError(f"dit.plucker must be true or false, got {self.plucker!r}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
        if (self.width // self.heads) % 8 or self.width // self.heads > 256:
            raise ValueError(f"head dim {self.width // self.heads} (dit.width / dit.heads) must be a multiple of 8 "
                             "(3D RoPE) and at most 256")
        if int(self.width * self.mlp_ratio) < 1:
            raise ValueError(f"dit.width x dit.mlp_ratio must give an MLP of >= 1 unit, "
                             f"got {self.width} x {self.mlp_ratio}")


@dataclass(frozen=True)
class SamplerConfig:
    """Few-step flow matching: x_t = (1 - s) x0 + s eps, v = eps - x0, shifted sigmas.

    `steps` evenly spaced raw levels are shifted (steps=4 gives the original's
    [1, .9375, .8333, .625]); an explicit `step_list` of noise levels overrides them.
    """

    steps: int = 2
    shift: float = 5.0
    step_list: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _int_in("sampler.steps", self.steps, 1, 4)
        _number_in("sampler.shift", self.shift, 0, 100)
        if self.step_list is not None:
            ok = isinstance(self.step_list, (tuple, list)) and all(
                not isinstance(x, bool) and isinstance(x, (int, float)) for x in self.step_list)
            sl = tuple(float(x) for x in self.step_list) if ok else ()
            if not 1 <= len(sl) <= 4 or any(not 0 < x <= 1 for x in sl) or any(a <= b for a, b in zip(sl, sl[1:])):
                raise ValueError(f"step_list must be 1..4 decreasing noise levels in (0, 1], got {self.step_list}")
            object.__setattr__(self, "step_list", sl)
            object.__setattr__(self, "steps", len(sl))

    def sigmas(self) -> list[float]:
        if self.step_list is not None:
            return list(self.step_list)
        raw = [1.0 - i / self.steps for i in range(self.steps)]
        return [self.shift * s / (1 + (self.shift - 1) * s) for s in raw]


@dataclass(frozen=True)
class GeneratorConfig:
    """The STAR generator: image size, VAE, DiT, cache layout and sampler."""

    height: int = 64
    width: int = 64
    vae: VAEConfig = field(default_factory=VAEConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    ref_window: int = 1  # reference frames t-w..t+w are attended to
    history: int = 2  # generated frames kept in the cache
    refine: int = 0  # channels of the full-resolution refiner (model.refine); 0: none, holes show the decoded frame

    def __post_init__(self) -> None:
        for name, sub in (("vae", VAEConfig), ("dit", DiTConfig), ("sampler", SamplerConfig)):
            if not isinstance(getattr(self, name), sub):
                raise ValueError(f"{name} must be a {sub.__name__}, got {type(getattr(self, name)).__name__}")
        _int_in("height", self.height, 8, 2048)
        _int_in("width", self.width, 8, 2048)
        _int_in("ref_window", self.ref_window, 0, 8)
        _int_in("history", self.history, 0, 32)
        _int_in("refine", self.refine, 0, 256)  # refiner channels
        s = self.vae.spatial_compression * self.dit.patch
        if self.height % s or self.width % s:
            raise ValueError(f"image {self.width}x{self.height} must be divisible by {s} (VAE x patch)")
        if self.tokens_per_frame > MAX_TOKENS_PER_FRAME:
            raise ValueError(f"image {self.width}x{self.height} at {self.vae.spatial_compression}x VAE and dit.patch "
                             f"{self.dit.patch} makes {self.tokens_per_frame} tokens a frame; at most "
                             f"{MAX_TOKENS_PER_FRAME}")

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.height // self.vae.spatial_compression, self.width // self.vae.spatial_compression

    @property
    def tokens_per_frame(self) -> int:
        h, w = self.latent_hw
        return (h // self.dit.patch) * (w // self.dit.patch)

    @property
    def slots(self) -> int:
        """Fixed temporal RoPE slots: reference window, history, current."""
        return 2 * self.ref_window + 1 + self.history + 1

    @property
    def ref_slots(self) -> list[int]:
        """Slot of reference offset -w..+w."""
        return list(range(2 * self.ref_window + 1))

    @property
    def hist_slots(self) -> list[int]:
        """Slot of a history frame of age a = 1..H (entry a - 1): a slots before the current one."""
        return [self.slots - 1 - a for a in range(1, self.history + 1)]

    @property
    def current_slot(self) -> int:
        return self.slots - 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GeneratorConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"model config is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ValueError(f"model config must be a JSON object, got {type(d).__name__}")
        sub = {"vae": VAEConfig, "dit": DiTConfig, "sampler": SamplerConfig}
        kw = {k: (_from_dict(sub[k], v, k) if k in sub else v) for k, v in d.items()}
        return _from_dict(cls, kw, "generator")


#: Named configurations: "tiny" for tests ("tiny64" its 2x sibling with the same latent grid, for the
#: aligned-VAE tests), "cpu" the real-time default on 2 cores (64 px),
#: "cpu128" its 128 px sibling: an 8x VAE gives the same 16x16 latent grid, so the DiT and
#: its cache cost what they cost at 64 px. The refiner is added by the refine stage (its
#: checkpoint's config has refine > 0).
CONFIGS: dict[str, GeneratorConfig] = {
    "tiny": GeneratorConfig(
        height=32, width=32, vae=VAEConfig(channels=(8, 16)), dit=DiTConfig(width=32, depth=2, heads=2),
    ),
    "tiny64": GeneratorConfig(
        height=64, width=64, vae=VAEConfig(spatial_compression=8, channels=(8, 16, 32)),
        dit=DiTConfig(width=32, depth=2, heads=2),
    ),
    "cpu": GeneratorConfig(),
    "cpu128": GeneratorConfig(height=128, width=128, vae=VAEConfig(spatial_compression=8, channels=(16, 32, 64))),
}
