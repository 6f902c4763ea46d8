"""Measurements: image metrics and the warp's accuracy against ground truth."""

from .metrics import masked_psnr, psnr
from .warp_accuracy import WarpAccuracy, warp_accuracy

__all__ = ["masked_psnr", "psnr", "WarpAccuracy", "warp_accuracy"]
