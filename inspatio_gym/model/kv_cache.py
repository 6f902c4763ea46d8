"""The implicit spatiotemporal cache: keys and values of reference and recent frames.

Temporal RoPE slots are fixed: reference offsets -w..+w take slots 0..2w, history frames of
age a = 1..H take slot 2w + 1 + H - a, the frame being generated takes the last slot. Keys
are rotated to every slot they will occupy once, when they are written, so a step never
re-rotates the context and nothing grows with the episode length.

WorldCache is per world, shared by every session on it: reference latents (all frames,
encoded at bind time) and reference K/V (per frame, computed lazily, least recently used
evicted). SessionCache is per lane: a ring of the last H generated frames' K/V.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from .config import GeneratorConfig

__all__ = ["WorldCache", "SessionCache"]


class WorldCache:
    """Reference latents and lazily computed reference K/V of one world.

    K/V live in a dense store of `capacity` rows (one row per cached frame) so a step's
    gather is one indexing op per layer; the least recently used frame gives up its row.
    """

    def __init__(self, cfg: GeneratorConfig, latents: torch.Tensor, capacity: int = 32) -> None:
        self.cfg = cfg
        self.latents = latents  # [T, C, h, w] standardised VAE latents of the reference frames
        self.capacity = max(capacity, 4 * (2 * cfg.ref_window + 1))
        self.rows: "OrderedDict[int, int]" = OrderedDict()  # frame -> row, in LRU order
        self.k: torch.Tensor | None = None  # [capacity, layers, S_ref, H, N, dh]
        self.v: torch.Tensor | None = None  # [capacity, layers, H, N, dh]
        self.computed = 0  # how many frames' K/V were computed (a test sees laziness)

    @property
    def num_frames(self) -> int:
        return int(self.latents.shape[0])

    def window(self, frames: torch.Tensor) -> torch.Tensor:
        """Reference frame indices [B, 2w+1] around each current frame, clipped to the video."""
        w = self.cfg.ref_window
        offs = torch.arange(-w, w + 1, device=frames.device)
        return (frames[:, None] + offs[None]).clamp(0, self.num_frames - 1)

    def reserve(self, frames: torch.Tensor) -> list[int]:
        """Mark this step's window frames most recently used and make room for all of them.

        Returns the frames still to compute. Because every needed frame is marked before any
        is computed, a put() can never evict a frame this step still needs; the store grows
        when one step needs more frames than it holds.
        """
        want = sorted(set(self.window(frames).flatten().tolist()))
        if len(want) > self.capacity:
            self._grow(len(want))
        for f in want:
            if f in self.rows:
                self.rows.move_to_end(f)
        return [f for f in want if f not in self.rows]

    def _grow(self, capacity: int) -> None:
        if self.k is not None and self.v is not None:
            extra = capacity - self.capacity
            self.k = torch.cat([self.k, self.k.new_zeros((extra, *self.k.shape[1:]))])
            self.v = torch.cat([self.v, self.v.new_zeros((extra, *self.v.shape[1:]))])
        self.capacity = capacity

    def put(self, frame: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """K [layers, S_ref, H, N, dh] rotated to every reference slot, V [layers, H, N, dh]."""
        if self.k is None or self.v is None:
            self.k = k.new_zeros((self.capacity, *k.shape))
            self.v = v.new_zeros((self.capacity, *v.shape))
        if len(self.rows) >= self.capacity:
            _, row = self.rows.popitem(last=False)  # evict the least recently used
        else:
            row = len(self.rows)
        self.k[row] = k
        self.v[row] = v
        self.rows[frame] = row
        self.computed += 1

    def lookup(self, frames: torch.Tensor) -> torch.Tensor:
        """Store rows [B, 2w+1] of each lane's reference window (reserve() and puts come first)."""
        idx = self.window(frames)
        return torch.tensor([[self.rows[f] for f in row] for row in idx.tolist()], dtype=torch.long)

    def gather(self, rows: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, V) [B, H, (2w+1) N, dh] of the windows given by lookup(), each frame at its slot."""
        assert self.k is not None and self.v is not None
        slots = torch.arange(rows.shape[1])
        k = self.k[rows, layer, slots[None].expand_as(rows)]  # [B, 2w+1, H, N, dh]
        v = self.v[rows, layer]
        return k.transpose(1, 2).flatten(2, 3), v.transpose(1, 2).flatten(2, 3)

    def nbytes(self) -> int:
        n = self.latents.numel() * self.latents.element_size()
        for t in (self.k, self.v):
            if t is not None:
                n += t.numel() * t.element_size()
        return n


class SessionCache:
    """Per-lane ring of the last H generated frames' K/V, rotated to their history slots."""

    def __init__(self, cfg: GeneratorConfig, lanes: int, device: torch.device | str = "cpu") -> None:
        d = cfg.dit
        self.cfg = cfg
        self.H = cfg.history
        heads, dh = d.heads, d.width // d.heads
        N = cfg.tokens_per_frame
        shape_k = (lanes, max(self.H, 1), d.depth, max(self.H, 1), heads, N, dh)
        shape_v = (lanes, max(self.H, 1), d.depth, heads, N, dh)
        self.k = torch.zeros(shape_k, device=device)
        self.v = torch.zeros(shape_v, device=device)
        self.last = torch.zeros(lanes, dtype=torch.long)  # ring index of the newest entry

    def write(self, lanes: torch.Tensor, kv_rot: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Store a new frame for each lane: kv_rot per layer (K [B, H_ages, heads, N, dh], V [B, heads, N, dh])."""
        if self.H == 0:
            return
        nxt = (self.last[lanes] + 1) % self.H
        k = torch.stack([k for k, _ in kv_rot], dim=1)  # [B, layers, ages, heads, N, dh]
        v = torch.stack([v for _, v in kv_rot], dim=1)
        self.k[lanes, nxt] = k
        self.v[lanes, nxt] = v
        self.last[lanes] = nxt

    def fill(self, lanes: torch.Tensor, kv_rot: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Every history entry of these lanes holds the same frame (the start of an episode)."""
        for _ in range(self.H):
            self.write(lanes, kv_rot)

    def gather(self, lanes: torch.Tensor, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, V) [B, heads, H N, dh], oldest first, each at the slot of its age."""
        B = len(lanes)
        ages = torch.arange(self.H, 0, -1)  # oldest (age H) first
        entry = (self.last[lanes][:, None] - (ages[None] - 1)) % self.H  # [B, H]
        li = lanes[:, None].expand(B, self.H)
        k = self.k[li, entry, layer, ages[None].expand(B, -1) - 1]  # [B, H, heads, N, dh]
        v = self.v[li, entry, layer]
        return k.transpose(1, 2).flatten(2, 3), v.transpose(1, 2).flatten(2, 3)

    def nbytes_per_lane(self) -> int:
        return (self.k[0].numel() + self.v[0].numel()) * self.k.element_size()
