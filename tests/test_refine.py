"""The pixel-resolution refiner (model.refine), its place in the generator and the STAR
backend, the refine training stage, and the real multi-view data it trains on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspatio_gym.backends.star import StarBackend
from inspatio_gym.backends.warp import WarpBackend
from inspatio_gym.model.checkpoint import load_checkpoint, save_checkpoint
from inspatio_gym.model.config import CONFIGS
from inspatio_gym.model.generator import StarGenerator
from inspatio_gym.model.refine import Refiner
from inspatio_gym.train import load_run_config, make_stage, train
from inspatio_gym.world.sources import procedural_world

ROOT = Path(__file__).resolve().parents[1]


def _images(seed: int = 0, B: int = 2, H: int = 32):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(B, 1, H, H, generator=g) > 0.3).float()
    fill = torch.rand(B, 3, H, H, generator=g) * 2 - 1
    render = torch.where(mask > 0, fill, torch.full_like(fill, -1.0))
    return render, fill, mask, torch.rand(B, 3, H, H, generator=g) * 2 - 1


def test_an_untrained_refiner_is_the_warp_and_covered_pixels_are_the_render():
    render, fill, mask, gen = _images()
    net = Refiner(4)
    assert torch.equal(net(render, fill, mask, gen), fill)  # zero last layer: the warp's image itself
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    out = net(render, fill, mask, gen)
    cov = (mask > 0).expand_as(out)
    assert torch.equal(out[cov], render[cov])  # pixel-exact where covered, whatever the weights
    assert not torch.equal(out[~cov], fill[~cov]) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="channels"):
        Refiner(0)


def _tiny_checkpoint(path: Path, refine: int = 0) -> Path:
    torch.manual_seed(0)
    cfg = dataclasses.replace(CONFIGS["tiny"], refine=refine)
    return save_checkpoint(path, StarGenerator(cfg), cfg)


def test_star_with_an_untrained_refiner_shows_exactly_the_warp(tmp_path):
    """Backend level: the generator runs, and the refiner (zero last layer) returns the
    warp's filled view: the world model starts at the baseline, pixel for pixel."""
    ckpt = _tiny_checkpoint(tmp_path / "r.safetensors", refine=4)
    w = procedural_world(seed=3, num_frames=6, width=32, height=32)
    star, warp = StarBackend(checkpoint=ckpt, device="cpu"), WarpBackend()
    lanes = np.array([0, 1])
    for b in (star, warp):
        b.allocate(2)
        b.reset(w, lanes, np.array([0, 2]), np.array([0, 1]))
    c2w = w.c2w[[1, 3]].copy()
    c2w[:, :3, 3] += 0.3 * w.scale
    vs, vw = star.observe(w, lanes, c2w, np.array([1, 3])), warp.observe(w, lanes, c2w, np.array([1, 3]))
    assert (~vw.mask).any()  # the move opened holes
    np.testing.assert_array_equal(vs.rgb, vw.rgb)
    gen = star.generator
    render = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="fill"):
        gen.step(star._reference(w), star.sessions, torch.tensor([0]), torch.tensor([1]), render, torch.ones(1, 1, 32, 32))


def test_refine_stage_trains_exports_and_the_export_loads(tmp_path):
    init = _tiny_checkpoint(tmp_path / "g.safetensors")
    cfg = dataclasses.replace(load_run_config(ROOT / "configs" / "train" / "refine_tiny.toml"), init=str(init),
                              out=str(tmp_path / "refine"))
    s = train(make_stage(cfg), cfg, cfg.out, progress=False)
    assert s["steps"] == 3 and all(np.isfinite(v) for v in s["last"].values())
    assert {"psnr_holes", "psnr_holes_warp", "l1_holes"} <= set(s["last"])
    assert (tmp_path / "refine" / "samples" / "0000003.png").is_file()
    gcfg, state, meta = load_checkpoint(s["export"])
    assert gcfg.refine == 4 and any(k.startswith("refiner.") for k in state) and meta["stage"] == "refine"
    _, base, _ = load_checkpoint(init)
    for k, v in base.items():  # the generator itself is frozen: exported unchanged
        assert torch.equal(state[k], v), k
    b = StarBackend(checkpoint=s["export"], device="cpu")
    assert b.generator.refiner is not None
    with pytest.raises(ValueError, match="init"):
        make_stage(dataclasses.replace(cfg, init=""))


def _multiview_fixture(folder: Path, depth: bool, width: int = 40, height: int = 32) -> tuple[Path, object]:
    """A procedural world written in the shared multi-view layout."""
    w = procedural_world(seed=11, path="orbit", num_frames=10, width=width, height=height)
    (folder / "frames").mkdir(parents=True)
    if depth:
        (folder / "depth").mkdir()
    for i in range(w.num_frames):
        cv2.imwrite(str(folder / "frames" / f"{i:06d}.png"), w.frames[i][..., ::-1])
        if depth:
            cv2.imwrite(str(folder / "depth" / f"{i:06d}.png"), (w.depth[i] * 1000).astype(np.uint16))
    np.savetxt(folder / "poses.txt", w.c2w.reshape(-1, 16))
    K = w.K
    (folder / "intrinsics.txt").write_text(f"{K[0, 0]} {K[1, 1]} {K[0, 2]} {K[1, 2]}\n")
    return folder, w


def test_multiview_world_reads_the_layout_and_makes_depth_when_absent(tmp_path):
    from inspatio_gym.world.sources.multiview import multiview_world, read_multiview

    folder, w = _multiview_fixture(tmp_path / "with_depth", depth=True)
    got = multiview_world(folder, 40, 32)
    np.testing.assert_array_equal(got.frames, w.frames)
    np.testing.assert_allclose(got.depth, w.depth, atol=1e-3)
    np.testing.assert_allclose(got.c2w, w.c2w, atol=1e-6)
    assert got.meta["multiview"] and got.depth_source == "ground_truth"
    folder2, w2 = _multiview_fixture(tmp_path / "no_depth", depth=False, width=200, height=160)
    est = multiview_world(folder2, 50, 40)
    assert est.depth_source == "plane_sweep"
    truth = multiview_world(_multiview_fixture(tmp_path / "d2", depth=True, width=200, height=160)[0], 50, 40).depth
    rel = np.abs(est.depth - truth) / truth
    assert np.median(rel) < 0.1  # the project's own depth from the given cameras
    (folder2 / "poses.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="poses.txt"):
        read_multiview(folder2)
    with pytest.raises(FileNotFoundError, match="multi-view"):
        read_multiview(tmp_path / "nowhere")


def test_novel_view_pairs_show_another_frame_never_in_the_window(tmp_path):
    from inspatio_gym.train.data.pairs import NOVEL_VIEW_GAPS, RealPairs
    from inspatio_gym.world.sources.multiview import multiview_world

    folder, _ = _multiview_fixture(tmp_path / "s", depth=True)
    w = multiview_world(folder, 40, 32)
    rp = RealPairs([w], frames=2, ref_window=1)
    frames_pm1 = torch.from_numpy(w.frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    for k in range(6):
        target, render, mask, ref, fill = rp.clip(w, np.random.default_rng(k))
        hit = [int(i) for t in target for i in range(w.num_frames) if torch.equal(t, frames_pm1[i])]
        refs = [int(i) for r in ref for i in range(w.num_frames) if torch.equal(r, frames_pm1[i])]
        assert len(hit) == 2 and hit[1] - hit[0] == 1  # two consecutive real frames
        assert not set(hit) & set(refs)  # the truth is never in the reference window
        assert min(abs(h - r) for h in hit for r in refs) >= min(NOVEL_VIEW_GAPS) - 1
        assert 0.2 < float(mask.mean()) <= 1.0


def test_held_out_scenes_are_never_trained_on(tmp_path):
    from inspatio_gym.train.data.pair_sources import load_real_worlds
    from inspatio_gym.train.data.seeds import HELD_OUT_SCENES

    held = tmp_path / HELD_OUT_SCENES[0]
    _multiview_fixture(held, depth=True)
    _multiview_fixture(tmp_path / "train_scene", depth=True)
    with pytest.raises(ValueError, match="held-out"):
        load_real_worlds([str(held)], 32)
    worlds = load_real_worlds([str(tmp_path / "*")], 32)
    assert [w.name for w in worlds] == ["train_scene"]


def test_refiner_flops_are_counted_from_the_config():
    from torch.utils.flop_counter import FlopCounterMode

    from inspatio_gym.model.refine import refiner_flops

    net = Refiner(16)
    x, m = torch.zeros(1, 3, 64, 48), torch.ones(1, 1, 64, 48)
    with FlopCounterMode(display=False) as fc:
        net.correction(x, m, x)
    assert fc.get_total_flops() == refiner_flops(16, 64, 48)


def test_readme_blocks_are_generated_between_their_markers(tmp_path):
    from inspatio_gym.train.ship import quality_tables, update_readme

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- generated by inspatio_gym.train.ship: star-quality -->\nold table\n"
                      "<!-- end of star-quality -->\noutro\n")
    results = {"summary": {"procedural": {"warp": {"psnr": 27.4, "ssim": 0.825, "psnr_holes": 21.78, "psnr_seam": 24.57,
                                                   "blockiness": 1.31, "blockiness_truth": 0.97}}}}
    update_readme(readme, {"star-quality": quality_tables(results)})
    text = readme.read_text()
    assert "old table" not in text and "| warp | 27.40 | 0.825 | 21.78 | 24.57 | 1.31 |" in text
    assert text.startswith("intro\n") and text.endswith("<!-- end of star-quality -->\noutro\n")
    with pytest.raises(ValueError, match="star-speed"):
        update_readme(readme, {"star-speed": ["x"]})
