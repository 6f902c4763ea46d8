"""Seeded procedural 3D worlds rendered by analytic ray casting, with exact ground truth.

Conventions (shared with the rest of inspatio_gym):
  * Cameras follow OpenCV: camera x right, y down, z forward. Poses are camera-to-world
    4x4 matrices (c2w). K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels; the pixel
    (u, v) with integer u in [0, W), v in [0, H) has its centre ray through K^-1 [u, v, 1]
    (so cx = (W - 1) / 2 puts the principal point at the image centre; there is no +0.5).
  * The world is "OpenCV-like" too: +y points DOWN (gravity). The identity c2w stands at
    the origin, level, looking along +z. The floor is the plane y = +floor_y (below the eye),
    the ceiling y = -ceil (above).
  * Depth is z-depth in the camera frame (distance along the optical axis), float32, metres.

Rendering is fully vectorised torch: the rays of all batch elements go through two batched
intersection blocks (boxes incl. the inside-out room; spheres + cylinders as quadrics), a min
over primitives, then deferred shading of the winning primitive per pixel. Shading is
Lambert + ambient with a fixed directional light and solid textures evaluated at the hit
point, hence view-independent: reprojecting one view into another reproduces the render.
"""

from __future__ import annotations

import colorsys
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..geometry.camera import rot_y
from .primitives import (
    SPHERE_HALF_Y,
    Primitive,
    box_sdf,
    intersect_boxes,
    intersect_quadrics,
    quadric_sdf,
    room_sdf,
    yaw_matrix,
)
from .textures import Material, hash_lattice, pack_materials, shade_surface

__all__ = [
    "ProceduralScene",
    "make_scene",
    "PATH_KINDS",
    "SCENE_KINDS",
]

PATH_KINDS = ("static", "pan", "dolly", "orbit")
SCENE_KINDS = ("room", "street")

ROOM_MIN = (-3.0, -1.2, -2.0)
ROOM_MAX = (3.0, 1.3, 7.0)
FREE_RADIUS = 1.2
"""Objects keep at least this distance from the origin and from every source path."""

_FAR = 1e4
_CHUNK_ELEMS = 1 << 20
"""Upper bound on rays x primitives per intersection pass (memory traffic, not correctness)."""
_ROOM_FACES = ("left (x-)", "right (x+)", "ceiling (y-)", "floor (y+)", "back (z-)", "front (z+)")


class ProceduralScene:
    """A closed axis-aligned room (or street) of textured analytic primitives.

    All parameters are tensors built once in __init__; the object is immutable afterwards
    (attribute assignment raises), so a scene can be shared between environments.
    """

    def __init__(
        self,
        room_min: Sequence[float],
        room_max: Sequence[float],
        room_materials: Sequence[Material],
        primitives: Sequence[Primitive] = (),
        *,
        noise_seed: int = 0,
        kind: str = "room",
        seed: int | None = None,
        orbit_distance: float = 3.0,
        dolly_distance: float = 0.8,
        pan_deg: float = 15.0,
        orbit_deg: float = 10.0,
    ) -> None:
        """room_min/room_max: the closed room AABB (floor at room_max y, ceiling at room_min y);
        room_materials: six face materials in the order left (x-), right (x+), ceiling (y-),
        floor (y+), back (z-), front (z+); primitives: the objects (may be empty, e.g. for
        analytic tests); noise_seed: seeds the hashed noise lattice; kind/seed: labels only;
        the remaining arguments shape source_path()."""
        if len(room_materials) != 6:
            raise ValueError(f"room_materials needs 6 materials {_ROOM_FACES}, got {len(room_materials)}")
        lo = np.asarray(room_min, dtype=np.float64)
        hi = np.asarray(room_max, dtype=np.float64)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(hi <= lo):
            raise ValueError(f"room_min must be < room_max per axis, got {room_min}, {room_max}")
        boxes = [p for p in primitives if p.kind == "box"]
        quads = [p for p in primitives if p.kind == "sphere"] + [p for p in primitives if p.kind == "cylinder"]
        self._primitives = tuple(boxes + quads)
        self._kind = kind
        self._seed = seed
        self._room_lo = lo
        self._room_hi = hi
        self._path_params = dict(orbit_distance=orbit_distance, dolly_distance=dolly_distance,
                                 pan_deg=pan_deg, orbit_deg=orbit_deg)
        self._num_box = 1 + len(boxes)  # the room is box 0
        self._num_quad = len(quads)
        self._build_tables(room_materials, boxes, quads)
        self._lattice = hash_lattice(noise_seed)
        self._cache: dict = {}
        self._frozen = True

    # ------------------------------------------------------------------ construction
    def _build_tables(self, room_materials: Sequence[Material], boxes: list[Primitive],
                      quads: list[Primitive]) -> None:
        """Pack every primitive into fixed tensors so render() only does batched tensor ops."""
        lo, hi = self._room_lo, self._room_hi
        room_c = (lo + hi) / 2
        room_h = (hi - lo) / 2
        materials = list(room_materials)
        rows, c0, motion, omega, phase = [], [], [], [], []

        def add(center, size, yaw, mat_id, is_box, flip, face_flag, w_y, tex_off, mot, per, ph):
            R = yaw_matrix(yaw)
            rows.append([*R.reshape(-1), *size, float(is_box), flip, float(face_flag), float(mat_id), 1.0,
                         w_y, 1.0, *tex_off])
            c0.append(list(center))
            motion.append(list(mot))
            omega.append(2 * math.pi / per)
            phase.append(ph)

        add(room_c, room_h, 0.0, 0, 1, -1.0, 1, 1.0, (0.37, 0.11, 0.73), (0, 0, 0), 1.0, 0.0)
        for p in boxes + quads:
            materials.append(p.material)
            w_y = 0.0 if p.kind == "cylinder" else 1.0
            add(p.center, p.size, p.yaw, len(materials) - 1, p.kind == "box", 1.0, 0, w_y, p.tex_offset,
                p.motion, p.period, p.phase)
        f32 = torch.float32
        # [P, 22]: rot 0:9 | size 9:12 | is_box 12 | flip 13 | face_flag 14 | mat 15 | w 16:19 | tex 19:22
        self._static = torch.tensor(rows, dtype=f32)
        self._c0 = torch.tensor(c0, dtype=torch.float64)  # [P, 3]
        self._motion = torch.tensor(motion, dtype=torch.float64)
        self._omega = torch.tensor(omega, dtype=torch.float64)
        self._phase = torch.tensor(phase, dtype=torch.float64)
        self._any_moving = bool((self._motion != 0).any())
        self._materials = pack_materials(materials)
        self._material_list = tuple(materials)
        nb = self._num_box
        rot = self._static[:nb, 0:9].reshape(nb, 3, 3)
        self._box_rot = rot
        self._box_rot_cat = rot.permute(1, 0, 2).reshape(3, 3 * nb).contiguous()
        self._box_half = self._static[:nb, 9:12].contiguous()
        q = self._static[nb:]
        self._quad_w = q[:, 16:19].contiguous()
        self._quad_r = q[:, 9].contiguous()
        self._quad_hy = torch.where(q[:, 17] > 0, torch.full_like(q[:, 10], SPHERE_HALF_Y), q[:, 10])
        # Per-pixel table used after the min: [rot 9 | half 3 | is_box | flip | face_flag | mat | w 3 | tex 3]
        static = self._static.clone()
        static[nb:, 10] = self._quad_hy
        self._shade_static = static.contiguous()

    def __setattr__(self, name: str, value) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"ProceduralScene is immutable (tried to set {name!r})")
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ properties
    @property
    def kind(self) -> str:
        return self._kind

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def primitives(self) -> tuple[Primitive, ...]:
        """The objects (room excluded), boxes first then spheres then cylinders."""
        return self._primitives

    @property
    def bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Room AABB (min xyz, max xyz); the floor is max y, the ceiling min y."""
        return tuple(float(v) for v in self._room_lo), tuple(float(v) for v in self._room_hi)

    @property
    def floor_y(self) -> float:
        return float(self._room_hi[1])

    def __repr__(self) -> str:
        kinds = [p.kind + ("*" if p.moving else "") for p in self._primitives]
        return f"ProceduralScene(kind={self._kind!r}, seed={self._seed}, objects={kinds})"

    # ------------------------------------------------------------------ dynamics
    def _centers(self, t: torch.Tensor) -> torch.Tensor:
        """Primitive centres [B, P, 3] float32 at times t [B] (float64)."""
        if not self._any_moving:
            return self._c0.to(torch.float32).unsqueeze(0).expand(t.shape[0], -1, -1)
        s = torch.sin(t.unsqueeze(1) * self._omega + self._phase)  # [B, P]
        return (self._c0 + self._motion * s.unsqueeze(-1)).to(torch.float32)

    # ------------------------------------------------------------------ rendering
    def _pixels(self, height: int, width: int, s: int) -> torch.Tensor:
        """Homogeneous pixel coordinates [R, 3] (cached): s*s sub-samples per pixel then, for s>1,
        the H*W exact centre rays (used for depth)."""
        key = (height, width, s)
        pix = self._cache.get(key)
        if pix is None:
            def grid(h: int, w: int, scale: int) -> torch.Tensor:
                v = (torch.arange(h, dtype=torch.float64) + 0.5) / scale - 0.5
                u = (torch.arange(w, dtype=torch.float64) + 0.5) / scale - 0.5
                vv, uu = torch.meshgrid(v, u, indexing="ij")
                return torch.stack([uu, vv, torch.ones_like(uu)], -1).reshape(-1, 3)

            parts = [grid(height * s, width * s, s)]
            if s > 1:
                parts.append(grid(height, width, 1))
            pix = torch.cat(parts).to(torch.float32).contiguous()
            self._cache[key] = pix
        return pix

    def render(
        self,
        c2w: torch.Tensor,
        K: torch.Tensor,
        height: int,
        width: int,
        t: float | torch.Tensor = 0.0,
        supersample: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render RGB [B, H, W, 3] float32 in [0, 1] and z-depth [B, H, W] float32 (metres).

        c2w [B, 4, 4] or [4, 4] (any float dtype; [4, 4] still returns B = 1), K [3, 3] or
        [B, 3, 3], t seconds (scalar or [B]); B broadcasts over the three. Pixel (u, v) has its
        centre ray through K^-1 [u, v, 1]. supersample=s casts s*s sub-pixel rays per pixel
        (i.e. renders at s x resolution with K scaled about pixel centres) and box-averages
        them for RGB; depth always comes from the exact pixel-centre ray, so it stays
        geometrically exact (no mixed depths at silhouettes). The camera must be inside the
        room; then every ray hits something and depth is finite and > 0.
        """
        s = int(supersample)
        if s < 1:
            raise ValueError(f"supersample must be >= 1, got {supersample}")
        with torch.no_grad():
            return self._render(c2w, K, int(height), int(width), t, s)

    def _render(self, c2w, K, H, W, t, s):
        c2w = torch.as_tensor(c2w).to(torch.float64)
        K = torch.as_tensor(K).to(torch.float64)
        if c2w.shape[-2:] != (4, 4) or K.shape[-2:] != (3, 3):
            raise ValueError(f"expected c2w [...,4,4] and K [...,3,3], got {tuple(c2w.shape)}, {tuple(K.shape)}")
        c2w = c2w.reshape(-1, 4, 4)
        M = torch.matmul(c2w[:, :3, :3], torch.linalg.inv(K.reshape(-1, 3, 3)))  # [B, 3, 3]
        tt = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        B = max(M.shape[0], tt.shape[0])
        M = M.to(torch.float32).expand(B, 3, 3)
        o = c2w[:, :3, 3].to(torch.float32).expand(B, 3)
        tt = tt.expand(B)
        pix = self._pixels(H, W, s)
        d = torch.matmul(pix, M.transpose(1, 2))  # [B, R, 3]; camera-z component is 1
        centers = self._centers(tt)  # [B, P, 3]
        chunk = max(4096, _CHUNK_ELEMS // (B * centers.shape[1]))
        if d.shape[1] <= chunk:
            depth, idx = self._intersect(o, d, centers)
            rgb = self._shade(o, d, depth, idx, centers)  # [B, R, 3]
        else:  # keep the [B, R, P] intermediates cache-sized for big batches / many primitives
            depths, rgbs = [], []
            for dc in d.split(chunk, dim=1):
                dep, idx = self._intersect(o, dc, centers)
                depths.append(dep)
                rgbs.append(self._shade(o, dc, dep, idx, centers))
            depth, rgb = torch.cat(depths, 1), torch.cat(rgbs, 1)
        if s == 1:
            return rgb.view(B, H, W, 3), depth.view(B, H, W)
        n_hi = H * W * s * s
        rgb = rgb[:, :n_hi].reshape(B, H, s, W, s, 3).mean(dim=(2, 4))
        return rgb, depth[:, n_hi:].reshape(B, H, W)

    def _intersect(self, o: torch.Tensor, d: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest hit distance [B, R] (= z-depth) and primitive index [B, R]."""
        nb = self._num_box
        o_local = torch.einsum("bxi,xij->bxj", o.unsqueeze(1) - centers[:, :nb], self._box_rot)
        t_all = intersect_boxes(o_local, d, self._box_rot_cat, self._box_half)
        if self._num_quad:
            t_q = intersect_quadrics(o, d, centers[:, nb:], self._quad_w, self._quad_r, self._quad_hy)
            t_all = torch.cat([t_all, t_q], -1)
        depth, idx = t_all.min(-1)
        return depth.clamp_(max=_FAR), idx

    def _shade(self, o: torch.Tensor, d: torch.Tensor, depth: torch.Tensor, idx: torch.Tensor,
               centers: torch.Tensor) -> torch.Tensor:
        """Deferred shading: gather the winning primitive's parameters per ray, then normal,
        material and texture."""
        B, R = depth.shape
        N = B * R
        P = centers.shape[1]
        table = torch.cat([centers, self._shade_static.expand(B, -1, -1)], -1).view(B * P, -1)
        if B > 1:
            idx = idx + torch.arange(0, B * P, P).unsqueeze(1)
        g = table.index_select(0, idx.view(-1))  # [N, 23]
        p = torch.addcmul(o.unsqueeze(1), d, depth.unsqueeze(-1)).view(N, 3)
        rot = g[:, 3:12].view(N, 3, 3)
        ql = ((p - g[:, 0:3]).unsqueeze(-1) * rot).sum(1)  # local coords: R^T (p - c)
        ratio = ql.abs() / g[:, 12:15]
        axis = ratio.argmax(-1)
        onehot = F.one_hot(axis, 3).to(torch.float32)
        n_box = onehot * torch.sign(ql)
        qw = ql * g[:, 19:22]
        rad = (qw * ql).sum(-1).sqrt_().div_(g[:, 12])
        flat = (g[:, 15] > 0.5) | (ratio[:, 1] > rad)  # box face or cylinder cap
        n_l = torch.where(flat.unsqueeze(-1), n_box, qw)
        n_l = n_l * (g[:, 16] / n_l.norm(dim=-1).clamp_(min=1e-12)).unsqueeze(-1)  # unit, room flipped inwards
        n_w = (rot * n_l.unsqueeze(1)).sum(-1)
        face = axis * 2 + (n_box.sum(-1) > 0).long()
        mat_id = g[:, 18].long() + face * g[:, 17].long()
        mats = self._materials.index_select(0, mat_id)
        tex_p = ql + g[:, 22:25]
        # the coordinate along a flat face's normal sits mid-cell (0.5 / pattern_scale), so
        # the soft patterns see it as a constant 0 instead of a cell edge
        along = onehot * flat.unsqueeze(-1)
        pat_p = tex_p * (1.0 - along) + along * (0.5 / mats[:, 9:10])
        rgb = shade_surface(mats, p[:, 1], n_w, tex_p, pat_p, self._lattice, self.floor_y)
        # a ray that hits nothing (a camera outside the room) is black, not NaN
        rgb = torch.where((depth.view(N, 1) >= _FAR), rgb.new_zeros(()), rgb)
        return rgb.view(B, R, 3)

    # ------------------------------------------------------------------ geometry oracles
    def distance(self, points: torch.Tensor, t: float = 0.0, include_room: bool = True) -> torch.Tensor:
        """Signed distance [N] float64 from points [N, 3] to the nearest surface at time t.

        Positive in free space; with include_room the room walls count (negative outside
        the room), without it only the objects.
        """
        p = torch.as_tensor(points).to(torch.float64).reshape(-1, 3)
        c = (self._c0 + self._motion * torch.sin(float(t) * self._omega + self._phase).unsqueeze(-1))
        out = torch.full((p.shape[0],), math.inf, dtype=torch.float64)
        if include_room:
            out = room_sdf(p, torch.from_numpy(self._room_lo), torch.from_numpy(self._room_hi))
        nb = self._num_box
        st = self._static.to(torch.float64)
        if nb > 1:
            sd = box_sdf(p, c[1:nb], st[1:nb, 0:9].reshape(-1, 3, 3), st[1:nb, 9:12])
            out = torch.minimum(out, sd.amin(-1))
        if self._num_quad:
            sd = quadric_sdf(p, c[nb:], self._quad_w.double(), self._quad_r.double(), self._quad_hy.double())
            out = torch.minimum(out, sd.amin(-1))
        return out

    def is_free(self, points: torch.Tensor, radius: float = 0.0, t: float = 0.0) -> torch.Tensor:
        """bool [N]: the ball of `radius` at each point is inside the room and touches no object.

        Exact (signed distances of boxes, spheres and capped cylinders), so it can serve as a
        ground-truth collision oracle.
        """
        return self.distance(points, t) > radius

    # ------------------------------------------------------------------ source cameras
    def source_path(self, kind: str, num_frames: int) -> torch.Tensor:
        """c2w [T, 4, 4] float64 of a smooth source camera path in the free space.

        Frame 0 is the identity pose for every kind. static: no motion; pan: yaw sweep
        0 -> +15 deg -> -15 deg -> 0 about world y at the origin; dolly: eased forward move of
        0.8 m along +z; orbit: arc of +-10 deg around the point 3 m ahead (always looking at it).
        """
        return _source_path(kind, num_frames, **self._path_params)


# ---------------------------------------------------------------------- generation
def _source_path(kind: str, num_frames: int, orbit_distance: float = 3.0, dolly_distance: float = 0.8,
                 pan_deg: float = 15.0, orbit_deg: float = 10.0) -> torch.Tensor:
    """See ProceduralScene.source_path; module-level so scene generation can use the paths."""
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown source path kind {kind!r}; expected one of {PATH_KINDS}")
    T = int(num_frames)
    if T < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    s = torch.linspace(0.0, 1.0, T, dtype=torch.float64) if T > 1 else torch.zeros(1, dtype=torch.float64)
    out = torch.eye(4, dtype=torch.float64).repeat(T, 1, 1)
    if kind == "pan":
        out[:, :3, :3] = rot_y(math.radians(pan_deg) * torch.sin(2 * math.pi * s))
    elif kind == "dolly":
        out[:, 2, 3] = dolly_distance * 0.5 * (1.0 - torch.cos(math.pi * s))
    elif kind == "orbit":
        R = rot_y(math.radians(orbit_deg) * torch.sin(2 * math.pi * s))
        out[:, :3, :3] = R
        out[:, :3, 3] = torch.tensor([0.0, 0.0, orbit_distance], dtype=torch.float64) - orbit_distance * R[:, :, 2]
    out[0] = torch.eye(4, dtype=torch.float64)  # exact identity, free of rounding
    return out


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _room_materials(rng: np.random.Generator) -> list[Material]:
    """Six face materials: pastel walls (each its own hue/pattern), light ceiling, wood or tile floor."""
    mats = []
    base_hue = rng.random()
    for i, _ in enumerate(range(4)):
        h = base_hue + 0.25 * i + rng.uniform(-0.06, 0.06)
        a = _hsv(h, rng.uniform(0.2, 0.45), rng.uniform(0.72, 0.88))
        b = _hsv(h + rng.uniform(-0.1, 0.1), rng.uniform(0.3, 0.55), rng.uniform(0.5, 0.7))
        style = rng.integers(3)
        if style == 0:  # vertical stripes (wallpaper)
            m = Material(a, b, stripe=0.8, noise=0.3, pattern_scale=rng.uniform(2.5, 6.0),
                         stripe_axis=(1.0, 0.0, 1.0), fine_amp=0.3, coarse_amp=0.25)
        elif style == 1:  # horizontal bands
            m = Material(a, b, stripe=0.7, noise=0.4, pattern_scale=rng.uniform(1.5, 4.0),
                         stripe_axis=(0.0, 1.0, 0.0), fine_amp=0.35, coarse_amp=0.25)
        else:  # panels
            m = Material(a, b, checker=0.6, noise=0.5, pattern_scale=rng.uniform(1.0, 2.5),
                         fine_amp=0.35, coarse_amp=0.3)
        mats.append(m)
    left, right, back, front = mats
    ceil = Material(_hsv(rng.random(), 0.06, 0.92), _hsv(rng.random(), 0.1, 0.78), checker=0.7, noise=0.2,
                    pattern_scale=rng.uniform(1.2, 2.0), fine_amp=0.2, coarse_amp=0.15)
    if rng.random() < 0.5:  # wooden planks along z
        h = rng.uniform(0.05, 0.1)
        floor = Material(_hsv(h, 0.55, 0.72), _hsv(h, 0.65, 0.45), stripe=0.6, noise=0.6,
                         pattern_scale=rng.uniform(4.0, 7.0), stripe_axis=(1.0, 0.0, 0.0),
                         fine_amp=0.45, coarse_amp=0.35)
    else:  # tiles
        h = rng.random()
        floor = Material(_hsv(h, 0.25, 0.85), _hsv(h + 0.5, 0.35, 0.45), checker=0.85, noise=0.3,
                         pattern_scale=rng.uniform(1.5, 3.0), fine_amp=0.35, coarse_amp=0.25)
    return [left, right, ceil, floor, back, front]


def _object_material(rng: np.random.Generator) -> Material:
    """Saturated two-colour material with a random pattern style."""
    h = rng.random()
    a = _hsv(h, rng.uniform(0.5, 0.85), rng.uniform(0.7, 0.95))
    b = _hsv(h + rng.choice([0.08, 0.5, -0.12]), rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.75))
    style = rng.integers(3)
    if style == 0:
        return Material(a, b, checker=0.8, noise=0.3, pattern_scale=rng.uniform(4.0, 9.0),
                        fine_amp=0.35, coarse_amp=0.25)
    if style == 1:
        axis = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.7, 0.7, 0.0)][rng.integers(4)]
        return Material(a, b, stripe=0.8, noise=0.3, pattern_scale=rng.uniform(5.0, 12.0),
                        stripe_axis=axis, fine_amp=0.35, coarse_amp=0.25)
    return Material(a, b, noise=1.3, fine_amp=0.5, coarse_amp=0.3)


def _path_points() -> torch.Tensor:
    """Camera centres of every source path kind (dense), for the clearance test during placement."""
    return torch.cat([_source_path(k, 129)[:, :3, 3] for k in PATH_KINDS])


def _footprint(p: Primitive) -> tuple[float, float, float, float]:
    """Conservative xz AABB (x0, x1, z0, z1) over the whole motion."""
    if p.kind == "box" and p.yaw != 0.0:
        rx = rz = math.hypot(p.size[0], p.size[2])
    else:
        rx, rz = p.size[0], p.size[2]
    mx, mz = abs(p.motion[0]), abs(p.motion[2])
    return (p.center[0] - rx - mx, p.center[0] + rx + mx, p.center[2] - rz - mz, p.center[2] + rz + mz)


def _overlaps(a: tuple, b: tuple, margin: float) -> bool:
    return not (a[1] + margin <= b[0] or b[1] + margin <= a[0] or a[3] + margin <= b[2] or b[3] + margin <= a[2])


def _primitive_distance(p: Primitive, points: torch.Tensor, t: float) -> torch.Tensor:
    """Signed distance [N] float64 from points to one primitive at time t."""
    c = torch.from_numpy(p.center_at(t)).reshape(1, 3)
    size = torch.tensor(p.size, dtype=torch.float64)
    if p.kind == "box":
        rot = torch.from_numpy(yaw_matrix(p.yaw)).reshape(1, 3, 3)
        return box_sdf(points, c, rot, size.reshape(1, 3))[:, 0]
    w = torch.tensor([1.0, 0.0 if p.kind == "cylinder" else 1.0, 1.0], dtype=torch.float64).reshape(1, 3)
    hy = size[1:2] if p.kind == "cylinder" else torch.tensor([SPHERE_HALF_Y], dtype=torch.float64)
    return quadric_sdf(points, c, w, size[0:1], hy)[:, 0]


def _clearance(p: Primitive, path_pts: torch.Tensor) -> float:
    """Smallest distance from the (moving) primitive to any path point, over a period."""
    ts = np.linspace(0.0, p.period, 33) if p.moving else [0.0]
    return min(float(_primitive_distance(p, path_pts, float(t)).min()) for t in ts)


def _random_object(rng: np.random.Generator, floor_y: float, x_lim: float, z_range: tuple[float, float],
                   max_height: float, shrink: float) -> Primitive:
    """One static object standing on the floor."""
    kind = ["box", "box", "sphere", "cylinder", "cylinder"][rng.integers(5)]
    x = rng.uniform(-x_lim, x_lim)
    z = rng.uniform(*z_range)
    mat = _object_material(rng)
    tex = tuple(rng.uniform(-20, 20, 3))
    if kind == "box":
        hx, hz = rng.uniform(0.2, 0.6, 2) * shrink
        hy = rng.uniform(0.15, min(0.9, max_height / 2))
        yaw = 0.0 if rng.random() < 0.4 else rng.uniform(0.0, math.pi / 2)
        return Primitive("box", (x, floor_y - hy, z), (hx, hy, hz), mat, yaw=yaw, tex_offset=tex)
    if kind == "sphere":
        r = rng.uniform(0.25, 0.6) * shrink
        return Primitive("sphere", (x, floor_y - r, z), (r, r, r), mat, yaw=rng.uniform(0, 6.3), tex_offset=tex)
    r = rng.uniform(0.15, 0.45) * shrink
    hy = rng.uniform(0.2, min(1.1, max_height / 2))
    return Primitive("cylinder", (x, floor_y - hy, z), (r, hy, r), mat, yaw=rng.uniform(0, 6.3), tex_offset=tex)


def _moving_objects(rng: np.random.Generator, floor_y: float, x_half: float, z_range: tuple[float, float],
                    count: int) -> list[Primitive]:
    """Objects sliding along x (smooth sinusoid), each in its own lane of z."""
    out: list[Primitive] = []
    lanes = np.linspace(z_range[0], z_range[1], count + 1)
    for i in range(count):
        z = rng.uniform(lanes[i] + 0.4, lanes[i + 1] - 0.4)
        mat = _object_material(rng)
        tex = tuple(rng.uniform(-20, 20, 3))
        if i == 0:  # the guaranteed mover: a ball, phase 0 so it has moved by `amp` at t = 1 s
            r = rng.uniform(0.28, 0.4)
            size, kind, period, phase = (r, r, r), "sphere", 4.0, 0.0
            cy = floor_y - r
        else:
            h = rng.uniform(0.2, 0.35)
            size, kind, period, phase = (h, h, h), "box", float(rng.uniform(3.5, 4.5)), float(rng.uniform(0, 6.3))
            cy = floor_y - h
        amp = rng.uniform(1.0, 1.6)
        x_max = x_half - size[0] - 0.1 - amp
        x0 = rng.uniform(-x_max, x_max)
        out.append(Primitive(kind, (x0, cy, z), size, mat, motion=(amp, 0.0, 0.0), period=period,
                             phase=phase, tex_offset=tex))
    return out


def _blocks_view(p: Primitive, foot: tuple) -> bool:
    """True for objects taller than eye level (y = 0) standing right in front of the camera:
    they would hide most of the room in the source views."""
    top = p.center[1] - p.size[1]
    return top < 0.0 and foot[0] < 1.0 and foot[1] > -1.0 and p.center[2] < 4.5


def _place_objects(rng: np.random.Generator, lo, hi, path_pts: torch.Tensor, moving: list[Primitive],
                   n_static: int, z_range: tuple[float, float], margin: float = 0.15) -> list[Primitive]:
    """Rejection-sample non-overlapping static objects that keep FREE_RADIUS from all paths."""
    placed = list(moving)
    feet = [_footprint(p) for p in placed]
    x_half = (hi[0] - lo[0]) / 2
    count, attempts = 0, 0
    while count < n_static and attempts < 400:
        attempts += 1
        shrink = 1.0 if attempts < 200 else 0.6
        p = _random_object(rng, hi[1], x_half - 0.2, z_range, hi[1] - lo[1] - 0.3, shrink)
        f = _footprint(p)
        if f[0] < lo[0] + 0.05 or f[1] > hi[0] - 0.05 or f[3] > hi[2] - 0.05:
            continue
        if any(_overlaps(f, g, margin) for g in feet):
            continue
        if _blocks_view(p, f):
            continue
        if _clearance(p, path_pts) < FREE_RADIUS + 0.02:
            continue
        placed.append(p)
        feet.append(f)
        count += 1
    return placed


def _make_room(seed: int, num_static: int | None, num_moving: int | None) -> ProceduralScene:
    rng = np.random.default_rng([seed, 0x5CE7E])
    mats = _room_materials(rng)
    n_static = int(rng.integers(4, 9)) if num_static is None else int(num_static)
    n_moving = int(1 + (rng.random() < 0.5)) if num_moving is None else int(num_moving)
    path_pts = _path_points()
    moving = _moving_objects(rng, ROOM_MAX[1], ROOM_MAX[0], (3.0, 6.3), n_moving)
    for p in moving:
        if _clearance(p, path_pts) < FREE_RADIUS:
            raise AssertionError("moving object too close to the source paths")  # lanes are far by design
    prims = _place_objects(rng, ROOM_MIN, ROOM_MAX, path_pts, moving, n_static, (1.8, 6.5))
    return ProceduralScene(ROOM_MIN, ROOM_MAX, mats, prims, noise_seed=seed, kind="room", seed=seed)


STREET_MIN = (-7.0, -12.0, -4.0)
STREET_MAX = (7.0, 1.3, 45.0)


def _make_street(seed: int, num_static: int | None, num_moving: int | None) -> ProceduralScene:
    """A long street: building facades (tall boxes) on both sides, sky ceiling, a few props."""
    rng = np.random.default_rng([seed, 0x57EE7])
    floor_y = STREET_MAX[1]
    sky = Material(_hsv(0.58, 0.35, 0.95), _hsv(0.6, 0.2, 0.98), noise=1.0, fine_amp=0.05, coarse_amp=0.15)
    road = Material(_hsv(0.1, 0.05, 0.45), _hsv(0.1, 0.05, 0.3), stripe=0.3, noise=0.7, pattern_scale=0.5,
                    stripe_axis=(1.0, 0.0, 0.0), fine_amp=0.5, coarse_amp=0.3)

    def facade() -> Material:
        h = rng.random()
        a = _hsv(h, rng.uniform(0.2, 0.5), rng.uniform(0.6, 0.85))
        b = _hsv(h + 0.5, 0.2, rng.uniform(0.25, 0.45))  # windows
        return Material(a, b, checker=0.75, noise=0.3, pattern_scale=rng.uniform(0.7, 1.2),
                        fine_amp=0.35, coarse_amp=0.25)

    mats = [facade(), facade(), sky, road, facade(), facade()]
    prims: list[Primitive] = []
    for side in (-1.0, 1.0):
        z = -3.5
        while z < STREET_MAX[2] - 1.0:
            length = rng.uniform(3.0, 9.0)
            z1 = min(z + length, STREET_MAX[2] - 0.5)
            rng.uniform(1.5, 3.0)  # an unused draw, kept so seeded street layouts stay the same
            height = rng.uniform(4.0, 11.0)
            x_in = side * rng.uniform(3.4, 4.0)
            x_out = side * 6.9
            cx, hx = (x_in + x_out) / 2, abs(x_out - x_in) / 2
            prims.append(Primitive("box", (cx, floor_y - height / 2, (z + z1) / 2), (hx, height / 2, (z1 - z) / 2),
                                   facade(), tex_offset=tuple(rng.uniform(-20, 20, 3))))
            z = z1 + rng.uniform(0.0, 2.5)
    path_pts = _path_points()
    n_static = int(rng.integers(4, 9)) if num_static is None else int(num_static)
    n_moving = 1 if num_moving is None else int(num_moving)
    moving = _moving_objects(rng, floor_y, 3.2, (5.0, 14.0), n_moving)
    props = _place_objects(rng, (-3.2, STREET_MIN[1], STREET_MIN[2]), (3.2, floor_y, STREET_MAX[2]), path_pts,
                           moving, n_static, (2.5, 25.0))
    return ProceduralScene(STREET_MIN, STREET_MAX, mats, prims + props, noise_seed=seed, kind="street", seed=seed)


def make_scene(seed: int = 0, kind: str = "room", *, num_static: int | None = None,
               num_moving: int | None = None) -> ProceduralScene:
    """Deterministic procedural scene for `seed`.

    kind "room": a closed 6 x 2.5 x 9 m room (x in [-3, 3], ceiling y=-1.2, floor y=+1.3,
    z in [-2, 7]) with 4-8 static objects at z in [1.8, 6.5] and 1-2 objects sliding along x
    (period ~4 s). kind "street": a 49 m long street between building facades with props.
    num_static / num_moving override the object counts (0, 0 gives an empty room, useful for
    analytic checks). Objects never come within 1.2 m of the origin or of any source path.
    """
    if kind == "room":
        return _make_room(int(seed), num_static, num_moving)
    if kind == "street":
        return _make_street(int(seed), num_static, num_moving)
    raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS}")
