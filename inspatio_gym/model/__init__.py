"""STAR: the spatiotemporal autoregressive world model (tiny VAE, causal DiT, cache, sampler).

Knows nothing of Gymnasium: backends/star.py adapts it to the env.
"""

from .kv_cache import SessionCache, WorldCache
from .checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from .config import CONFIGS, DiTConfig, GeneratorConfig, SamplerConfig, VAEConfig
from .dit import CausalDiT, dit_flops_per_pass
from .generator import Sessions, StarGenerator, generator_flops_per_frame
from .vae import TinyVAE

__all__ = [
    "CONFIGS",
    "CausalDiT",
    "CheckpointError",
    "DiTConfig",
    "GeneratorConfig",
    "SamplerConfig",
    "SessionCache",
    "Sessions",
    "StarGenerator",
    "TinyVAE",
    "VAEConfig",
    "WorldCache",
    "dit_flops_per_pass",
    "generator_flops_per_frame",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
