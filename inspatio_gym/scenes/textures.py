"""Solid procedural textures: materials, hashed value noise and view-independent shading.

Everything here is a function of the hit point only (never of the viewing ray), so a
surface point has the same colour from every camera: warping one rendered view into
another reproduces the true render up to occlusion and resampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Material",
    "pack_materials",
    "MAT_FIELDS",
    "hash_lattice",
    "value_noise",
    "LATTICE",
    "NOISE_SCALES",
    "shade_surface",
]

LATTICE = 64
"""Period (in cells) of the noise lattice; large enough that repeats are not noticed."""

NOISE_SCALES = (1.0 / 0.05, 1.0 / 0.3)
"""Cells per metre of the fine (5 cm: parallax/blur detail) and coarse (30 cm) noise."""

_NOISE_OFFSETS = ((0.0, 0.0, 0.0), (17.3, 5.1, 29.7))
"""Lattice offsets (cells) decorrelating the two noise octaves that share one lattice."""

LIGHT_DIR = (0.35, -1.0, -0.45)
"""Direction *towards* the single directional light (world y is down, so -y is up)."""
AMBIENT = 0.55
DIFFUSE = 0.5
FLOOR_AO = 0.3
"""Darkening of vertical surfaces right above the floor (fades over ~0.3 m)."""
FLOOR_AO_FALLOFF = 0.3


@dataclass(frozen=True)
class Material:
    """Two colours mixed by a pattern, then modulated by two octaves of value noise.

    pattern = checker*C + stripe*S + noise*N_coarse (clamped to [0, 1]); albedo =
    lerp(color_a, color_b, pattern) * (1 + fine_amp*(N_fine-0.5) + coarse_amp*(N_coarse-0.5)).
    """

    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    checker: float = 0.0
    stripe: float = 0.0
    noise: float = 1.0
    pattern_scale: float = 4.0
    """Checker cells / stripes per metre."""
    stripe_axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    """Stripes vary along this (object-local) direction."""
    fine_amp: float = 0.35
    coarse_amp: float = 0.2


MAT_FIELDS = {
    "color_a": slice(0, 3),
    "color_b": slice(3, 6),
    "weights": slice(6, 9),  # checker, stripe, noise
    "pattern_scale": slice(9, 10),
    "stripe_axis": slice(10, 13),
    "amps": slice(13, 15),  # fine, coarse
}
"""Column layout of the packed material table (one row per material)."""


def pack_materials(materials: list[Material]) -> torch.Tensor:
    """[M, 15] float32 table so a per-pixel material id becomes one index_select."""
    rows = []
    for m in materials:
        rows.append(
            [*m.color_a, *m.color_b, m.checker, m.stripe, m.noise, m.pattern_scale, *m.stripe_axis,
             m.fine_amp, m.coarse_amp]
        )
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 15)


def _hash_u32(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Integer hash of lattice coordinates (murmur-style finaliser); exact and platform-independent."""
    m = np.uint64(0xFFFFFFFF)
    h = (ix.astype(np.uint64) * np.uint64(0x8DA6B343)) & m
    h ^= (iy.astype(np.uint64) * np.uint64(0xD8163841)) & m
    h ^= (iz.astype(np.uint64) * np.uint64(0xCB1AB31F)) & m
    h ^= np.uint64((seed * 0x165667B1) & 0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & m
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & m
    h ^= h >> np.uint64(16)
    return h


@lru_cache(maxsize=16)
def hash_lattice(seed: int, size: int = LATTICE) -> torch.Tensor:
    """Periodic value-noise lattice [1, 1, size+1, size+1, size+1] in [0, 1] (cached; treat as read-only).

    Cell (i, j, k) holds hash(i mod size, j mod size, k mod size); the extra last slice
    repeats the first so trilinear interpolation wraps seamlessly.
    """
    idx = np.arange(size + 1) % size
    iz, iy, ix = np.meshgrid(idx, idx, idx, indexing="ij")
    h = _hash_u32(ix, iy, iz, seed)
    vals = (h >> np.uint64(8)).astype(np.float64) / float(1 << 24)
    return torch.from_numpy(vals.astype(np.float32)).reshape(1, 1, size + 1, size + 1, size + 1)


def _noise_affine() -> tuple[torch.Tensor, torch.Tensor]:
    """Scale [S,1] and offset [S,3] mapping metres to lattice units / LATTICE (one fused addcmul)."""
    scale = torch.tensor(NOISE_SCALES, dtype=torch.float32).reshape(-1, 1) / LATTICE
    off = torch.tensor(_NOISE_OFFSETS, dtype=torch.float32) / LATTICE
    return scale, off


_NOISE_SCALE, _NOISE_OFF = _noise_affine()


def value_noise(lattice: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Two octaves of trilinear value noise at points p [N, 3] (metres) -> [N, 2] (fine, coarse).

    Value noise = trilinear interpolation of hashed lattice values at floor(p*scale);
    grid_sample does the interpolation for all points and both octaves in one op.
    """
    n = p.shape[0]
    g = torch.addcmul(_NOISE_OFF, p.unsqueeze(1), _NOISE_SCALE)  # [N, 2, 3] in lattice periods
    g = torch.remainder(g, 1.0).mul_(2.0).sub_(1.0)
    out = F.grid_sample(lattice, g.view(1, 1, n, 2, 3), mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out.view(n, 2)


EDGE_WIDTH = 0.3
"""Width (in pattern cells) of the ramp between checker / stripe colours: band-limits the
patterns so that a resampled (warped) view matches a true render at 64x64."""


def soft_parity(x: torch.Tensor, width: float = EDGE_WIDTH) -> torch.Tensor:
    """floor(x) mod 2 with linear ramps of `width` cells centred on the integer edges."""
    h = torch.remainder(x, 2.0)  # parity 1 on [1, 2)
    d = torch.minimum(torch.minimum(h, (h - 1.0).abs()), 2.0 - h)  # distance to nearest edge
    ramp = (d / width).clamp_(max=0.5)
    return torch.where(h >= 1.0, 0.5 + ramp, 0.5 - ramp)


def _xor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """XOR of soft bits: exact on {0, 1}, smooth in between."""
    return a + b - 2.0 * a * b


def _light() -> torch.Tensor:
    v = torch.tensor(LIGHT_DIR, dtype=torch.float32)
    return v / v.norm()


_LIGHT = _light()


def shade_surface(
    mats: torch.Tensor,
    p_world_y: torch.Tensor,
    n_world: torch.Tensor,
    tex_p: torch.Tensor,
    pattern_p: torch.Tensor,
    lattice: torch.Tensor,
    floor_y: float,
) -> torch.Tensor:
    """RGB [N, 3] from per-pixel material rows, world normal and texture coordinates.

    tex_p: object-local point (+ per-object offset) for the noise; pattern_p: the same with
    the coordinate along a flat face's normal zeroed, so floor() patterns do not flicker
    on faces that sit exactly on a cell boundary.
    """
    noise = value_noise(lattice, tex_p)  # [N, 2]
    scale = mats[:, 9:10]
    par = soft_parity(pattern_p * scale)
    checker = _xor(_xor(par[:, 0], par[:, 1]), par[:, 2])
    stripe = soft_parity((pattern_p * mats[:, 10:13]).sum(-1) * scale[:, 0])
    pats = torch.stack([checker, stripe], -1)
    pats = torch.cat([pats, noise[:, 1:2]], -1)  # [N, 3]: checker, stripe, coarse noise
    mix = (pats * mats[:, 6:9]).sum(-1, keepdim=True).clamp_(0.0, 1.0)
    col_a = mats[:, 0:3]
    albedo = torch.lerp(col_a, mats[:, 3:6], mix)
    detail = ((noise - 0.5) * mats[:, 13:15]).sum(-1, keepdim=True).add_(1.0)
    ndl = (n_world @ _LIGHT).clamp_(min=0.0)
    # Contact-darkening near the floor on non-horizontal surfaces (view-independent).
    ao = torch.exp((p_world_y - floor_y) * (1.0 / FLOOR_AO_FALLOFF)) * (1.0 - n_world[:, 1].abs())
    shade = (ndl * DIFFUSE + AMBIENT) * (1.0 - FLOOR_AO * ao)
    return (albedo * (detail * shade.unsqueeze(-1))).clamp_(0.0, 1.0)
