"""The evaluation's image metrics: seam band and 4-px grid blockiness (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from inspatio_gym.eval.metrics import grid_blockiness, masked_psnr, psnr, seam_band


def smooth_image(seed: int = 0, size: int = 64) -> np.ndarray:
    """Natural-ish: smooth random colour field in [0, 1] with no preferred grid."""
    img = gaussian_filter(np.random.default_rng(seed).random((size, size, 3)), (2.0, 2.0, 0))
    return (img - img.min()) / (img.max() - img.min())


def blocks(img: np.ndarray, k: int = 4) -> np.ndarray:
    """The image averaged in k x k cells: the mosaic a failed 4x latent decoder shows."""
    H, W, C = img.shape
    return img.reshape(H // k, k, W // k, k, C).mean((1, 3)).repeat(k, 0).repeat(k, 1)


def test_blockiness_natural_is_near_one_and_a_4px_mosaic_is_far_above():
    for seed in range(3):
        img = smooth_image(seed)
        b = grid_blockiness(img)
        assert 0.85 < b < 1.15, b
        assert grid_blockiness(blocks(img)) > 5.0
        # uint8 and float give the same answer up to quantisation
        assert abs(grid_blockiness((img * 255).round().astype(np.uint8)) - b) < 0.05


def test_blockiness_counts_only_pairs_inside_the_mask():
    img = smooth_image(1)
    mosaic = blocks(img)
    left = np.zeros((64, 64), bool)
    left[:, :32] = True
    half = np.where(left[..., None], mosaic, img)  # mosaic on the left only
    assert grid_blockiness(half, left) > 5.0
    assert grid_blockiness(half, ~left) < 1.15
    assert np.isnan(grid_blockiness(img, np.zeros((64, 64), bool)))


def test_blockiness_pools_a_stack_and_follows_the_period():
    img = smooth_image(2)
    stack = np.stack([blocks(img), blocks(smooth_image(3))])
    assert grid_blockiness(stack, np.ones((2, 64, 64), bool)) > 5.0
    # an 8-px mosaic has blocks on the 4-px grid too, but a 4-px mosaic has none on the odd 3-px grid
    assert grid_blockiness(blocks(img, 8), period=4) > 2.0
    assert grid_blockiness(blocks(img, 4), period=3) < 1.5
    with pytest.raises(ValueError):
        grid_blockiness(img, period=1)
    with pytest.raises(ValueError):
        grid_blockiness(img, np.ones((32, 32), bool))


def test_seam_band_is_exactly_the_pixels_next_to_a_hole_border():
    covered = np.ones((10, 10), bool)
    covered[4:6, 4:6] = False  # a 2x2 hole
    want1 = np.zeros((10, 10), bool)
    want1[3:7, 3:7] = True  # the hole and the ring of covered pixels touching it
    np.testing.assert_array_equal(seam_band(covered, 1), want1)
    want2 = np.zeros((10, 10), bool)
    want2[2:8, 2:8] = True
    np.testing.assert_array_equal(seam_band(covered, 2), want2)
    # the same band from the holes' side, for every frame of a stack, and none without a border
    np.testing.assert_array_equal(seam_band(~covered, 2), want2)
    stack = seam_band(np.stack([covered, np.ones((10, 10), bool)]), 2)
    np.testing.assert_array_equal(stack[0], want2)
    assert not stack[1].any()


def test_seam_band_of_a_large_hole_keeps_its_interior_out():
    covered = np.ones((12, 12), bool)
    covered[:, 6:] = False  # right half a hole: the border is the column line 5|6; image edges are no seam
    band = seam_band(covered, 2)
    cols = np.flatnonzero(band.any(0))
    np.testing.assert_array_equal(cols, [4, 5, 6, 7])
    assert band[:, 4:8].all()
    with pytest.raises(ValueError):
        seam_band(covered, 0)


def test_psnr_metrics_still_agree():
    a = smooth_image(0)
    b = np.clip(a + 0.01, 0, 1)
    m = np.ones((64, 64), bool)
    assert masked_psnr(a, b, m) == pytest.approx(psnr(a, b))
