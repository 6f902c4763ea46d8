"""Reconstruction of a world's geometry from a video: SfM, dense depth, priors, imports and the on-disk cache."""

from .external import ImportedGeometry, load_geometry_dir
from .preprocess import NoParallaxWarning, Preprocessed, PreprocessSettings, preprocess_video
from .disk_cache import cache_root, clear_entries, list_entries, preprocessed

__all__ = [
    "ImportedGeometry",
    "NoParallaxWarning",
    "PreprocessSettings",
    "Preprocessed",
    "cache_root",
    "clear_entries",
    "list_entries",
    "load_geometry_dir",
    "preprocess_video",
    "preprocessed",
]
