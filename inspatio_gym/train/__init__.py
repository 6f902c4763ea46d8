"""Training, laid out as model / pipeline / trainer (as Self-Forcing does):

- `config`: a shared RunConfig and one config per stage, read from configs/train/*.toml
- `data`: procedural clips, condition pairs and their latents: what the stages train on
- `pipeline`: what the stages compute with the models (differentiable rollout, clip view, losses)
- `stages`: vae, teacher, causal, distill: their modules, batches, loss and export
- `trainer`: the loop every stage runs under (torchrun, resume, EMA, one optimiser step)
- `ship`: the distilled checkpoint into the package, with its model card
"""

from .config import RunConfig, load_run_config
from .data.procedural_clips import ProceduralClips
from .data.seeds import HELD_OUT_SEEDS
from .stages import make_stage
from .stages.vae import VAEStage
from .trainer.loop import train

__all__ = ["HELD_OUT_SEEDS", "ProceduralClips", "RunConfig", "VAEStage", "load_run_config", "make_stage", "train"]
