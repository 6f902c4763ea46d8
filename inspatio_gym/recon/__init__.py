"""Reconstruction of a world's geometry from a video: SfM, dense depth, priors, imports and the on-disk cache."""
