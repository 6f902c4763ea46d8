"""Reconstruction of a world's geometry from a video: SfM, dense depth, priors, imports and the on-disk cache.

Below world/: it reports a fallback to the ground-plane prior in `Preprocessed.report`;
the warning about it (world.NoParallaxWarning) is the world's.
"""

from .external import ImportedGeometry, load_geometry_dir
from .preprocess import Preprocessed, PreprocessSettings, preprocess_video
from .disk_cache import cache_root, clear_entries, list_entries, preprocessed

__all__ = [
    "ImportedGeometry",
    "PreprocessSettings",
    "Preprocessed",
    "cache_root",
    "clear_entries",
    "list_entries",
    "load_geometry_dir",
    "preprocess_video",
    "preprocessed",
]
