"""The novel-view protocol of the STAR evaluation (issue 13)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from inspatio_gym.eval.novel_views import (
    METRICS,
    NovelViews,
    novel_view_pairs,
    novel_view_scores,
    novel_views,
    reference_frames_read,
    render_novel_views,
)

REAL_MULTIVIEW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_multiview"


@pytest.fixture(scope="module")
def tiny_world():
    from inspatio_gym.world import procedural_world

    return procedural_world(seed=900000, num_frames=8, width=32, height=32)


def test_pairs_freeze_every_reference_frame_for_each_gap():
    ref, tgt = novel_view_pairs(8, (2, 3))
    np.testing.assert_array_equal(ref, [0, 1, 2, 3, 4] * 2)
    np.testing.assert_array_equal(tgt - ref, [2] * 5 + [3] * 5)
    assert tgt.max() == 7
    ref, tgt = novel_view_pairs(25, (2, 3), stride=4)
    np.testing.assert_array_equal(ref[:6], [0, 4, 8, 12, 16, 20])
    with pytest.raises(ValueError):
        novel_view_pairs(3, (3,))


def test_warp_scores_are_finite_and_its_covered_pixels_beat_its_holes(tiny_world):
    from inspatio_gym.backends.warp import WarpBackend

    s = novel_view_scores(WarpBackend, tiny_world, gaps=(2, 3))
    p = s["pooled"]
    assert set(METRICS) <= set(p)
    assert s["views"] == 10 and p["views"] == 10 and set(s["by_gap"]) == {2, 3}
    for k in METRICS:
        assert np.isfinite(p[k]), k
    assert 0 < p["hole_fraction"] < 0.5
    assert p["psnr_covered"] > p["psnr_holes"] + 3.0
    assert p["psnr_covered"] > p["psnr_seam"] > p["psnr_holes"]  # the band mixes both sides
    assert 0.8 < p["blockiness_truth"] < 1.25
    assert p["psnr"] > 20


def test_holes_are_the_warps_for_every_method(tiny_world):
    from inspatio_gym.backends.base import Backend
    from inspatio_gym.backends.warp import WarpBackend
    from inspatio_gym.geometry.view import View

    class Grey(Backend):
        """Grey everywhere, covers nothing: its own mask must not become the holes."""

        def observe(self, world, lanes, c2w, frames):
            n = len(lanes)
            return View(rgb=np.full((n, world.height, world.width, 3), 128, np.uint8),
                        depth=np.ones((n, world.height, world.width), np.float32),
                        mask=np.zeros((n, world.height, world.width), bool),
                        render=np.zeros((n, world.height, world.width, 3), np.uint8))

    nv = novel_views({"warp": WarpBackend, "grey": Grey}, tiny_world, gaps=(2,), stride=2)
    _, warp_mask = render_novel_views(WarpBackend(), tiny_world, nv.ref, nv.target)
    np.testing.assert_array_equal(nv.holes, ~warp_mask)
    np.testing.assert_array_equal(nv.truth, tiny_world.frames[nv.target])
    s = nv.scores()
    assert s["warp"]["pooled"]["psnr"] > s["grey"]["pooled"]["psnr"]
    assert s["grey"]["pooled"]["blockiness"] == pytest.approx(1.0)  # flat: no gradient anywhere
    both = NovelViews.concat([nv, nv.subset(nv.gap == 2)])
    assert len(both.ref) == 2 * len(nv.ref) and set(both.rgb) == {"warp", "grey"}


def test_star_views_are_separate_episodes_and_never_read_the_target(tiny_world):
    from inspatio_gym.backends.star import StarBackend
    from inspatio_gym.backends.warp import WarpBackend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        star = StarBackend(config="tiny", device="cpu")
    ref, tgt = novel_view_pairs(tiny_world.num_frames, (2,), stride=2)
    batched, _ = render_novel_views(star, tiny_world, ref, tgt, seed=5, batch=8)
    one_by_one, _ = render_novel_views(star, tiny_world, ref, tgt, seed=5, batch=1)
    assert np.abs(batched.astype(int) - one_by_one).max() <= 1  # lanes are independent episodes
    seen = reference_frames_read(star, 3, 16)
    assert {2, 3, 4} <= seen and 5 not in seen and 6 not in seen  # ref window 1 and warp neighbours +-4, +-8
    assert reference_frames_read(WarpBackend(), 3, 16) == {3, 7, 11}
    with pytest.raises(ValueError, match="copy the truth"):
        novel_views({"warp": WarpBackend}, tiny_world, gaps=(4,))


def test_held_out_real_scene_novel_views():
    if not REAL_MULTIVIEW.is_dir():
        pytest.skip(f"shared real multi-view data not present: {REAL_MULTIVIEW}")
    from inspatio_gym.backends.warp import WarpBackend
    from inspatio_gym.train.data.seeds import HELD_OUT_SCENES
    from inspatio_gym.world.sources.multiview import multiview_world

    folder = REAL_MULTIVIEW / "sun3d_studyroom_f3160"  # the held-out scene with sensor depth: fast to load
    if "sun3d_studyroom_f3160" not in HELD_OUT_SCENES or not folder.is_dir():
        pytest.skip("sun3d_studyroom_f3160 is not a held-out scene here")
    world = multiview_world(folder, width=64, height=64)
    s = novel_view_scores(WarpBackend, world, gaps=(2, 3), stride=4)
    for k in ("psnr", "ssim", "psnr_covered"):
        assert np.isfinite(s["pooled"][k])
    assert s["pooled"]["psnr"] > 14  # a real frame two or three frames away, geometry only
