"""Novel views of a real (or any posed) scene: the held-out protocol of the STAR evaluation.

Time is frozen at reference frame i and the camera is moved to the pose of frame j = i + gap;
the view is compared with the real frame j. Every view is its own short episode (reset at
frame i, one observation at the target pose with frames=[i]), so a backend with memory
carries nothing from one view to the next; the episodes run as lanes of one batch, which
gives the same images as one episode at a time (each lane has its own session and seed).

The "holes" are the pixels the warp backend's render does not cover at the target pose:
the same holes for every method, so hole scores compare like with like.

    from inspatio_gym.eval.novel_views import novel_view_scores
    s = novel_view_scores(lambda: WarpBackend(), world, gaps=(2, 3))
    s["pooled"]["psnr_holes"], s["by_gap"][2]["psnr"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..backends.base import Backend
from ..world.reference import ReferenceWorld
from .metrics import grid_blockiness, seam_band, ssim

__all__ = ["METRICS", "NovelViews", "novel_view_pairs", "novel_view_scores", "novel_views", "reference_frames_read",
           "render_novel_views", "view_scores"]

#: The keys of a view_scores dict.
METRICS = ("psnr", "ssim", "psnr_holes", "ssim_holes", "psnr_covered", "psnr_seam", "blockiness",
           "blockiness_truth", "hole_fraction", "views")


def novel_view_pairs(num_frames: int, gaps: tuple[int, ...] = (2, 3), stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(reference frame i [M], target frame j [M]) for i in range(0, num_frames - max(gaps), stride)
    and every gap: the same reference frames for every gap, so the gaps compare like with like."""
    gaps = tuple(int(g) for g in gaps)
    if not gaps or min(gaps) < 1:
        raise ValueError(f"gaps must be positive integers, got {gaps!r}")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    refs = np.arange(0, num_frames - max(gaps), stride)
    if len(refs) == 0:
        raise ValueError(f"a world of {num_frames} frames has no frame pair {max(gaps)} apart")
    ref = np.concatenate([refs for _ in gaps])
    tgt = np.concatenate([refs + g for g in gaps])
    return ref, tgt


def reference_frames_read(backend: Backend, frame: int, num_frames: int) -> set[int] | None:
    """The reference frames a backend reads with time frozen at `frame` (the aligned frame, the
    warp's neighbours, the generator's reference window), or None if it cannot be told. A
    protocol whose target frame is among them would score a copy of the truth."""
    seen = {int(frame)}
    known = False
    for r in (getattr(backend, "renderer", None), getattr(backend, "warp", None)):
        offsets = getattr(r, "offsets", None)
        if offsets is not None:
            seen |= {int(frame + o) for o in np.asarray(offsets).ravel()}
            known = True
    cfg = getattr(backend, "cfg", None)
    if cfg is not None and hasattr(cfg, "ref_window"):
        seen |= set(range(frame - cfg.ref_window, frame + cfg.ref_window + 1))
    elif cfg is not None:
        return None
    if not known:
        return None
    return {f for f in seen if 0 <= f < num_frames}


def render_novel_views(backend: Backend, world: ReferenceWorld, ref: np.ndarray, target: np.ndarray,
                       seed: int = 0, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 [M, H, W, 3], coverage mask [M, H, W]) of the views frozen at ref [M], seen
    from the poses of target [M]; view k is its own episode (seed + k) on lane k % batch."""
    ref, target = np.asarray(ref, dtype=np.int64), np.asarray(target, dtype=np.int64)
    if ref.shape != target.shape or ref.ndim != 1:
        raise ValueError(f"ref and target must be equal-length 1-D arrays, got {ref.shape} and {target.shape}")
    M = len(ref)
    n = max(1, min(int(batch), M))
    backend.allocate(n)
    rgb, mask = [], []
    for a in range(0, M, n):
        r, t = ref[a : a + n], target[a : a + n]
        lanes = np.arange(len(r))
        backend.reset(world, lanes, r, seed + a + lanes)
        v = backend.observe(world, lanes, world.c2w[t], r)
        rgb.append(np.asarray(v.rgb))
        mask.append(np.asarray(v.mask, dtype=bool))
    return np.concatenate(rgb), np.concatenate(mask)


def _pooled_psnr(pred: np.ndarray, gt: np.ndarray, sel: np.ndarray) -> float:
    """One PSNR over all selected pixels of a stack (one MSE, not a mean of per-view PSNRs:
    views with few hole pixels weigh by their pixel count)."""
    if not sel.any():
        return float("nan")
    mse = float(np.mean(((pred.astype(np.float64) - gt.astype(np.float64)) / 255.0)[sel] ** 2))
    return float("inf") if mse == 0 else -10.0 * float(np.log10(mse))


def view_scores(pred: np.ndarray, gt: np.ndarray, holes: np.ndarray, seam_width: int = 2,
                period: int = 4) -> dict[str, float]:
    """Scores of views pred [M, H, W, 3] against gt (uint8) with the warp's holes [M, H, W]:

    psnr, ssim: full frame, mean over views; psnr_holes / psnr_covered / psnr_seam: one PSNR
    pooled over the hole pixels / the covered pixels / the seam band (seam_band, `seam_width`)
    of every view; ssim_holes: SSIM map averaged over the holes, mean over views with holes;
    blockiness, blockiness_truth: grid_blockiness (`period`) of the prediction and of the truth
    inside the holes, pooled over views (the truth's is the natural level); hole_fraction."""
    pred, gt, holes = np.asarray(pred), np.asarray(gt), np.asarray(holes, dtype=bool)
    if pred.shape != gt.shape or pred.shape[:-1] != holes.shape:
        raise ValueError(f"pred {pred.shape}, gt {gt.shape} and holes {holes.shape} do not match")
    d = ((pred.astype(np.float64) - gt.astype(np.float64)) / 255.0) ** 2
    per_view = d.reshape(len(d), -1).mean(1)
    full = np.where(per_view > 0, -10.0 * np.log10(np.maximum(per_view, 1e-300)), np.inf)
    seam = seam_band(holes, seam_width)
    with_holes = [k for k in range(len(pred)) if holes[k].any()]
    return {
        "psnr": float(np.mean(full)),
        "ssim": float(np.mean([ssim(p, g) for p, g in zip(pred, gt)])),
        "psnr_holes": _pooled_psnr(pred, gt, holes),
        "ssim_holes": float(np.mean([ssim(pred[k], gt[k], mask=holes[k]) for k in with_holes]))
        if with_holes else float("nan"),
        "psnr_covered": _pooled_psnr(pred, gt, ~holes),
        "psnr_seam": _pooled_psnr(pred, gt, seam),
        "blockiness": grid_blockiness(pred, holes, period),
        "blockiness_truth": grid_blockiness(gt, holes, period),
        "hole_fraction": float(holes.mean()),
        "views": int(len(pred)),
    }


@dataclass
class NovelViews:
    """Every novel view of one world (or several, concatenated): the frames, the truth, the
    warp's holes and each method's images."""

    ref: np.ndarray  # [M] reference frame (time) of each view
    target: np.ndarray  # [M] frame whose pose the camera takes and whose image is the truth
    truth: np.ndarray  # [M, H, W, 3] uint8
    holes: np.ndarray  # [M, H, W] bool: not covered by the warp's render
    rgb: dict[str, np.ndarray] = field(default_factory=dict)  # method -> [M, H, W, 3] uint8
    world: list[str] = field(default_factory=list)  # [M] world name of each view

    @property
    def gap(self) -> np.ndarray:
        return self.target - self.ref

    def subset(self, sel: np.ndarray) -> "NovelViews":
        return NovelViews(self.ref[sel], self.target[sel], self.truth[sel], self.holes[sel],
                          {k: v[sel] for k, v in self.rgb.items()}, list(np.asarray(self.world, dtype=object)[sel]))

    @staticmethod
    def concat(parts: list["NovelViews"]) -> "NovelViews":
        methods = [m for m in parts[0].rgb if all(m in p.rgb for p in parts)]
        return NovelViews(np.concatenate([p.ref for p in parts]), np.concatenate([p.target for p in parts]),
                          np.concatenate([p.truth for p in parts]), np.concatenate([p.holes for p in parts]),
                          {m: np.concatenate([p.rgb[m] for p in parts]) for m in methods},
                          [w for p in parts for w in p.world])

    def scores(self, seam_width: int = 2, period: int = 4) -> dict[str, dict]:
        """method -> {"pooled": view_scores over every view, "by_gap": {gap: view_scores}}."""
        gaps = sorted({int(g) for g in self.gap})
        out = {}
        for m, rgb in self.rgb.items():
            out[m] = {"pooled": view_scores(rgb, self.truth, self.holes, seam_width, period),
                      "by_gap": {g: view_scores(rgb[self.gap == g], self.truth[self.gap == g],
                                                self.holes[self.gap == g], seam_width, period) for g in gaps}}
        return out


def _warp_factory() -> Backend:
    from ..backends.warp import WarpBackend

    return WarpBackend()


def novel_views(methods: Mapping[str, Callable[[], Backend]], world: ReferenceWorld, gaps: tuple[int, ...] = (2, 3),
                stride: int = 1, seed: int = 0, batch: int = 16, holes: np.ndarray | None = None,
                check_leak: bool = True) -> NovelViews:
    """Every method's novel views of one world (see the module docstring). The holes are the
    coverage of methods["warp"] (a default WarpBackend if absent) unless given [M, H, W].
    check_leak: refuse a method that reads a target frame (it would copy the truth)."""
    ref, tgt = novel_view_pairs(world.num_frames, gaps, stride)
    out = NovelViews(ref, tgt, np.asarray(world.frames)[tgt], np.zeros((len(ref), world.height, world.width), bool),
                     world=[world.name] * len(ref))
    warp_mask = None
    for name, make in methods.items():
        backend = make()
        if check_leak:
            for i, j in zip(ref, tgt):
                seen = reference_frames_read(backend, int(i), world.num_frames)
                if seen is not None and int(j) in seen:
                    raise ValueError(f"method {name!r} reads reference frame {j} when frozen at {i}: a novel view "
                                     f"{j - i} frames away would copy the truth; use other gaps")
        rgb, mask = render_novel_views(backend, world, ref, tgt, seed, batch)
        out.rgb[name] = rgb
        if name == "warp":
            warp_mask = mask
    if holes is None:
        if warp_mask is None:
            _, warp_mask = render_novel_views(_warp_factory(), world, ref, tgt, seed, batch)
        holes = ~warp_mask
    holes = np.asarray(holes, dtype=bool)
    if holes.shape != out.holes.shape:
        raise ValueError(f"holes must be {out.holes.shape}, got {holes.shape}")
    out.holes = holes
    return out


def novel_view_scores(backend_factory: Callable[[], Backend], world: ReferenceWorld, gaps: tuple[int, ...] = (2, 3),
                      stride: int = 1, seed: int = 0, batch: int = 16, holes: np.ndarray | None = None) -> dict:
    """One backend's novel-view scores on one world: {"pooled": view_scores over every view,
    "by_gap": {gap: view_scores}, "views": M}; holes as in novel_views (the warp's)."""
    nv = novel_views({"method": backend_factory}, world, gaps, stride, seed, batch, holes)
    s = nv.scores()["method"]
    return {"pooled": s["pooled"], "by_gap": s["by_gap"], "views": int(len(nv.ref))}
